"""Public keys as DIDs carry them: Multikey (multicodec + base58btc multibase), Ed25519 and P-256.

This module encodes and decodes keys and verifies signatures with PyNaCl (Ed25519) and
``cryptography`` (P-256); it implements no cryptographic primitive itself. It is not a key store:
private keys live in the holder's wallet or in the node's key store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from careledger.identity.did.errors import DidKeyError, InvalidDid

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {ch: i for i, ch in enumerate(_B58_ALPHABET)}

# multicodec varint prefixes (https://github.com/multiformats/multicodec/blob/master/table.csv)
_ED25519_PUB = b"\xed\x01"
_P256_PUB = b"\x80\x24"


def b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet) text of ``data``."""
    return _b58encode(data if type(data) is bytes else bytes(memoryview(data)))


def b58decode(text: str) -> bytes:
    """Bytes of base58 (Bitcoin alphabet) ``text``; :class:`InvalidDid` on a bad character."""
    return _b58decode(text)


# Both are pure functions of immutable values, and the same keys recur: a verifier decodes its
# issuers' keys for every credential, and a did:key document names its key three times.
@lru_cache(maxsize=4096)
def _b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    out: list[str] = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


@lru_cache(maxsize=4096)
def _b58decode(text: str) -> bytes:
    num = 0
    try:
        for ch in text:
            num = num * 58 + _B58_INDEX[ch]
    except KeyError as exc:
        raise InvalidDid(f"not base58btc: {text[:20]!r}") from exc
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


def multibase_b58(data: bytes) -> str:
    """Multibase base58btc (``z`` prefix) text of ``data``."""
    return "z" + b58encode(data)


def from_multibase_b58(text: str) -> bytes:
    """Bytes of a multibase base58btc string; only the ``z`` base is accepted."""
    if not text.startswith("z"):
        raise InvalidDid("multibase value must use base58btc ('z' prefix)")
    return b58decode(text[1:])


class KeyType(StrEnum):
    """Key types CareLedger resolves from DIDs."""

    ED25519 = "Ed25519"
    P256 = "P-256"


@dataclass(frozen=True)
class PublicKey:
    """A public key of a known type, raw bytes (Ed25519: 32 bytes; P-256: 33-byte compressed)."""

    key_type: KeyType
    raw: bytes
    _nacl: nacl.signing.VerifyKey | None = field(default=None, compare=False, repr=False)

    @property
    def multikey(self) -> str:
        """The Multikey ``publicKeyMultibase`` value (``z6Mk…`` for Ed25519, ``zDn…`` for P-256)."""
        prefix = _ED25519_PUB if self.key_type is KeyType.ED25519 else _P256_PUB
        return multibase_b58(prefix + self.raw)

    @classmethod
    def from_multikey(cls, text: str) -> PublicKey:
        """Decode a ``publicKeyMultibase`` value; raises :class:`InvalidDid` if unsupported."""
        data = from_multibase_b58(text)
        if data.startswith(_ED25519_PUB) and len(data) == 34:
            return cls.ed25519(data[2:])
        if data.startswith(_P256_PUB) and len(data) == 35:
            try:
                ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data[2:])
            except ValueError as exc:
                raise InvalidDid("P-256 multikey is not a point on the curve") from exc
            return cls(KeyType.P256, data[2:])
        raise InvalidDid("unsupported multikey: only Ed25519 and P-256 public keys are supported")

    @classmethod
    def ed25519(cls, raw: bytes) -> PublicKey:
        """An Ed25519 public key from its 32 raw bytes."""
        if len(raw) != 32:
            raise InvalidDid("an Ed25519 public key is 32 bytes")
        return cls(KeyType.ED25519, raw, nacl.signing.VerifyKey(raw))

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` (Ed25519, or P-256 raw r||s over SHA-256) signs ``message``."""
        if self.key_type is KeyType.ED25519:
            verifier = self._nacl or nacl.signing.VerifyKey(self.raw)
            try:
                verifier.verify(message, signature)
            except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
                return False
            return True
        if len(signature) != 64:
            return False
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.raw)
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


class Ed25519Signer:
    """An Ed25519 private key that signs; the seed never leaves this object except via ``seed``."""

    def __init__(self, seed: bytes | None = None) -> None:
        if seed is not None and len(seed) != 32:
            raise DidKeyError("an Ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed) if seed else nacl.signing.SigningKey.generate()
        self.public_key = PublicKey.ed25519(bytes(self._key.verify_key))

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed (for the encrypted wallet only)."""
        return bytes(self._key)

    @property
    def did_key(self) -> str:
        """The ``did:key`` DID of this key."""
        return "did:key:" + self.public_key.multikey

    @property
    def did_key_verification_method(self) -> str:
        """The verification method id of this key in its did:key document."""
        return f"{self.did_key}#{self.public_key.multikey}"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message).signature


def key_fingerprint(key: PublicKey) -> str:
    """A short stable identifier of a key (base58 of SHA-256 of its multikey), for registry ids."""
    return b58encode(hashlib.sha256(key.multikey.encode()).digest()[:16])
