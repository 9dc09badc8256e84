"""Ed25519 keys and signatures (libsodium through PyNaCl), and parallel batch verification.

PyNaCl was chosen over ``cryptography`` for Ed25519 because libsodium verifies about twice as fast
on this class of machine and its CFFI calls release the GIL, so a thread pool verifies on every
core. Private keys are kept as 32-byte seeds (RFC 8032) and never leave this module's objects
except through :meth:`SigningKey.seed` for storage.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions

from careledger.errors import CryptoError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """An Ed25519 public key."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != PUBLIC_KEY_SIZE:
            raise CryptoError("an Ed25519 public key is 32 bytes")

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        return verify(self.raw, message, signature)


class SigningKey:
    """An Ed25519 private key."""

    __slots__ = ("_secret", "public")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise CryptoError("an Ed25519 seed is 32 bytes")
        public, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        self._secret: bytes = secret
        self.public = VerifyKey(public)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(os.urandom(32))

    def seed(self) -> bytes:
        """The 32-byte seed, for storing the key."""
        return bytes(self._secret[:32])

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        signed: bytes = nacl.bindings.crypto_sign(message, self._secret)
        return signed[:SIGNATURE_SIZE]

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.raw.hex()[:16]}…)"


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``message`` verifies under ``public_key``; never raises."""
    if len(signature) != SIGNATURE_SIZE or len(public_key) != PUBLIC_KEY_SIZE:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One signature to check: ``signature`` over ``message`` by ``public_key``."""

    public_key: bytes
    message: bytes
    signature: bytes


def _verify_many(checks: Sequence[SignatureCheck]) -> list[bool]:
    return [verify(c.public_key, c.message, c.signature) for c in checks]


class BatchVerifier:
    """Verifies many signatures at once on a thread pool (libsodium releases the GIL)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sigverify")
        #: Signatures checked and seconds spent checking them (read by ``careledger bench``).
        self.checked = 0
        self.seconds = 0.0

    def verify(self, checks: Sequence[SignatureCheck]) -> list[bool]:
        """Results in the order of ``checks``."""
        started = time.perf_counter()
        if len(checks) < 64 or self.workers == 1:
            results = _verify_many(checks)
        else:
            size = -(-len(checks) // self.workers)
            chunks = [checks[i : i + size] for i in range(0, len(checks), size)]
            results = []
            for part in self._pool.map(_verify_many, chunks):
                results.extend(part)
        self.seconds += time.perf_counter() - started
        self.checked += len(checks)
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class SignatureMemo:
    """Signatures one peer has already seen verify, or made itself: bounded, oldest forgotten.

    A peer verifies a proposal's creator signature when it endorses, and signs its own
    endorsement; when the transaction comes back in a block it need not verify either again.
    Only the signature arithmetic is remembered (key, message hash, signature): membership and
    policy are still judged at the block. Entries are keyed by the SHA-256 of the message, so a
    hit means the very same bytes.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._seen: dict[bytes, None] = {}
        #: Checks answered from the memo (read by tests and ``careledger bench``).
        self.hits = 0

    @staticmethod
    def key(public_key: bytes, message: bytes, signature: bytes) -> bytes:
        """The entry remembered for this signature (public key, signature, SHA-256 of message)."""
        return public_key + signature + hashlib.sha256(message).digest()

    def seen(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """Whether this very signature over these very bytes verified here before."""
        return self.key(public_key, message, signature) in self._seen

    def add(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Remember a signature that verified (or that this peer made)."""
        self.add_key(self.key(public_key, message, signature))

    def add_key(self, key: bytes) -> None:
        """Remember an entry by its key (as :meth:`key` makes it): the same peer's worker process
        learns what its endorsing side verified and signed."""
        seen = self._seen
        seen[key] = None
        if len(seen) > self.capacity:
            for old in list(itertools.islice(seen, len(seen) - self.capacity)):
                del seen[old]

    def verify(self, verifier: BatchVerifier, checks: Sequence[SignatureCheck]) -> list[bool]:
        """Like ``verifier.verify(checks)``, verifying only the checks not remembered."""
        results: list[bool] = [False] * len(checks)
        todo: list[int] = []
        for i, c in enumerate(checks):
            if self.key(c.public_key, c.message, c.signature) in self._seen:
                results[i] = True
            else:
                todo.append(i)
        self.hits += len(checks) - len(todo)
        for i, ok in zip(todo, verifier.verify([checks[i] for i in todo]), strict=True):
            results[i] = ok
        return results
