"""JWS Compact Serialization (RFC 7515 §7.1) for SD-JWT, KB-JWT and DID authentication.

Only the serialization lives here; signatures come from PyNaCl (EdDSA/Ed25519, RFC 8037 and
RFC 9864) and ``cryptography`` (ES256) through :mod:`careledger.identity.did.keys`. We do not
route through a general JOSE library because SD-JWT verification needs two JWS checks per
presentation and the libraries' Ed25519 path (OpenSSL via ``cryptography``) is half as fast as
libsodium; the algorithm allowlist below is the whole of the attack surface (no ``none``, no HMAC,
no key from the header).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from careledger.credentials.errors import CredentialFormatError
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.jwk import b64url, b64url_decode
from careledger.identity.did.keys import Ed25519Signer, KeyType, PublicKey

#: algorithm name → key type that may verify it
ALGORITHMS: dict[str, KeyType] = {
    "EdDSA": KeyType.ED25519,
    "Ed25519": KeyType.ED25519,
    "ES256": KeyType.P256,
}
_MAX_TOKEN = 256 * 1024


@dataclass(frozen=True)
class CompactJws:
    """A parsed (not yet verified) compact JWS."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> CompactJws:
        """Split and decode; raises :class:`CredentialFormatError` if it is not a JWS of JSON."""
        if len(token) > _MAX_TOKEN:
            raise CredentialFormatError("JWS is too large")
        parts = token.split(".")
        if len(parts) != 3:
            raise CredentialFormatError("a compact JWS has three dot-separated parts")
        try:
            header = json.loads(b64url_decode(parts[0]))
            payload = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (InvalidDid, ValueError) as exc:
            raise CredentialFormatError(f"JWS does not decode: {exc}") from exc
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise CredentialFormatError("JWS header and payload must be JSON objects")
        if "crit" in header:
            raise CredentialFormatError("JWS crit headers are not supported")
        return cls(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)

    def verify(self, key: PublicKey) -> bool:
        """True when the signature verifies with ``key`` under an allowed ``alg`` for its type."""
        alg = self.header.get("alg")
        if not isinstance(alg, str) or ALGORITHMS.get(alg) is not key.key_type:
            return False
        return key.verify(self.signing_input, self.signature)


def sign_compact(
    header: Mapping[str, Any], payload: Mapping[str, Any], signer: Ed25519Signer
) -> str:
    """A compact JWS of ``payload`` signed by ``signer`` (``alg`` EdDSA unless the header says
    ``Ed25519``)."""
    full = {"alg": "EdDSA", **header}
    if full["alg"] not in ("EdDSA", "Ed25519"):
        raise CredentialFormatError(f"an Ed25519 key cannot sign alg {full['alg']}")
    head = b64url(json.dumps(full, separators=(",", ":")).encode("utf-8"))
    body = b64url(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode('ascii')))}"
