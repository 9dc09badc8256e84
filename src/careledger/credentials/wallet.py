"""A holder's wallet: Ed25519 keys and credentials in one file encrypted at rest, and minimal
presentations answering a verifier's :class:`~careledger.credentials.request.PresentationRequest`.

The file is JSON: scrypt parameters and salt, an AES-256-GCM nonce and the ciphertext of the
contents; the header is bound as associated data so the parameters cannot be swapped. Keys are
derived with ``cryptography``'s Scrypt and encrypted with its AESGCM; nothing is hand-rolled.
Not a server: the wallet API of a node wraps this class.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from careledger.credentials import sd_jwt
from careledger.credentials.errors import CredentialFormatError, WalletError
from careledger.credentials.request import PresentationRequest
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.jwk import public_key_from_jwk
from careledger.identity.did.keys import Ed25519Signer

_FORMAT = "careledger-wallet/1"
#: scrypt cost: 2**17 costs ~0.3 s and 128 MiB (OWASP minimum is 2**17 with r=8, p=1)
DEFAULT_SCRYPT_N = 2**17


@dataclass(frozen=True)
class StoredCredential:
    """A credential kept in the wallet: ``sd-jwt`` (compact text) or ``ldp_vc`` (JSON text)."""

    id: str
    format: str
    type: str
    data: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _derive(passphrase: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode("utf-8"))


class Wallet:
    """Open with :meth:`create` or :meth:`open`; call :meth:`save` to write changes."""

    def __init__(self, path: Path, passphrase: str, scrypt_n: int) -> None:
        self._path = path
        self._passphrase = passphrase
        self._scrypt_n = scrypt_n
        self._keys: dict[str, Ed25519Signer] = {}
        self._credentials: dict[str, StoredCredential] = {}

    @classmethod
    def create(cls, path: Path, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> Wallet:
        """A new empty wallet written to ``path`` (which must not exist)."""
        if path.exists():
            raise WalletError(f"{path} already exists")
        if len(passphrase) < 8:
            raise WalletError("passphrase must be at least 8 characters")
        wallet = cls(path, passphrase, scrypt_n)
        wallet.save()
        return wallet

    @classmethod
    def open(cls, path: Path, passphrase: str) -> Wallet:
        """Decrypt the wallet at ``path``; :class:`WalletError` on a wrong passphrase or damage."""
        try:
            envelope = json.loads(path.read_text("utf-8"))
            header = envelope["header"]
            if header["format"] != _FORMAT or header["kdf"] != "scrypt":
                raise WalletError(f"{path} is not a {_FORMAT} file")
            key = _derive(passphrase, _unb64(header["salt"]), int(header["n"]))
            aad = json.dumps(header, sort_keys=True).encode()
            plain = AESGCM(key).decrypt(
                _unb64(envelope["nonce"]), _unb64(envelope["ciphertext"]), aad
            )
        except InvalidTag as exc:
            raise WalletError("wrong passphrase or damaged wallet") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WalletError(f"cannot read wallet {path}: {exc}") from exc
        wallet = cls(path, passphrase, int(header["n"]))
        contents = json.loads(plain)
        wallet._keys = {a: Ed25519Signer(_unb64(s)) for a, s in contents["keys"].items()}
        wallet._credentials = {c["id"]: StoredCredential(**c) for c in contents["credentials"]}
        return wallet

    def save(self) -> None:
        """Encrypt and write atomically (temp file, fsync, rename)."""
        contents = {
            "keys": {alias: _b64(k.seed) for alias, k in self._keys.items()},
            "credentials": [vars(c) for c in self._credentials.values()],
        }
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        header = {
            "format": _FORMAT,
            "kdf": "scrypt",
            "n": self._scrypt_n,
            "r": 8,
            "p": 1,
            "salt": _b64(salt),
            "cipher": "AES-256-GCM",
        }
        key = _derive(self._passphrase, salt, self._scrypt_n)
        aad = json.dumps(header, sort_keys=True).encode()
        ciphertext = AESGCM(key).encrypt(nonce, json.dumps(contents).encode("utf-8"), aad)
        body = json.dumps({"header": header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)})
        tmp = self._path.with_suffix(self._path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._path)

    def new_key(self, alias: str) -> Ed25519Signer:
        """Generate and keep a holder key under ``alias``."""
        if alias in self._keys:
            raise WalletError(f"key {alias!r} already exists")
        self._keys[alias] = Ed25519Signer()
        return self._keys[alias]

    def key(self, alias: str) -> Ed25519Signer:
        """The key stored under ``alias``."""
        try:
            return self._keys[alias]
        except KeyError as exc:
            raise WalletError(f"no key {alias!r}") from exc

    def add_sd_jwt(self, token: str) -> StoredCredential:
        """Store an SD-JWT VC received from an issuer."""
        decoded = sd_jwt.decode(sd_jwt.SdJwt.parse(token))
        stored = StoredCredential(
            str(uuid.uuid4()), "sd-jwt", str(decoded.claims.get("vct")), token
        )
        self._credentials[stored.id] = stored
        return stored

    def add_vc(self, credential: dict[str, Any]) -> StoredCredential:
        """Store a Data Integrity VC."""
        types = credential.get("type", [])
        kind = (
            [t for t in types if t != "VerifiableCredential"]
            if isinstance(types, list)
            else [types]
        )
        stored = StoredCredential(
            str(credential.get("id", uuid.uuid4())),
            "ldp_vc",
            kind[0] if kind else "VerifiableCredential",
            json.dumps(credential),
        )
        self._credentials[stored.id] = stored
        return stored

    def credentials(self) -> list[StoredCredential]:
        """Everything stored."""
        return list(self._credentials.values())

    def present(self, request: PresentationRequest, clock: Callable[[], float] = time.time) -> str:
        """An SD-JWT+KB answering ``request``: only the requested claims are disclosed."""
        for stored in self._credentials.values():
            if stored.format != "sd-jwt" or stored.type != request.credential_type:
                continue
            holder = self._holder_for(stored.data)
            if holder is None:
                continue
            return sd_jwt.present(
                stored.data, request.claims, holder, request.audience, request.nonce, clock
            )
        raise WalletError(f"no {request.credential_type} credential bound to a key in this wallet")

    def _holder_for(self, token: str) -> Ed25519Signer | None:
        claims = sd_jwt.decode(sd_jwt.SdJwt.parse(token)).claims
        try:
            bound = public_key_from_jwk(claims["cnf"]["jwk"])
        except (KeyError, TypeError, CredentialFormatError, InvalidDid):
            return None
        return next((k for k in self._keys.values() if k.public_key == bound), None)
