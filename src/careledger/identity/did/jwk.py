"""Public keys as JSON Web Keys (RFC 7517 / RFC 8037): Ed25519 (OKP) and P-256 (EC).

Used for ``publicKeyJwk`` verification methods and for SD-JWT holder binding (``cnf.jwk``).
Point (de)compression is done by ``cryptography``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import KeyType, PublicKey


def b64url(data: bytes) -> str:
    """Unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Bytes of unpadded base64url text; raises :class:`InvalidDid` on bad input."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidDid("not base64url") from exc


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key of an Ed25519 OKP or P-256 EC JWK."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        return PublicKey.ed25519(b64url_decode(str(jwk.get("x", ""))))
    if kty == "EC" and crv == "P-256":
        x, y = b64url_decode(str(jwk.get("x", ""))), b64url_decode(str(jwk.get("y", "")))
        try:
            point = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
        except ValueError as exc:
            raise InvalidDid("P-256 JWK is not a point on the curve") from exc
        return PublicKey(
            KeyType.P256, point.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        )
    raise InvalidDid(f"unsupported JWK: kty={kty!r} crv={crv!r}")


def jwk_from_public_key(key: PublicKey) -> dict[str, str]:
    """The public JWK of ``key``."""
    if key.key_type is KeyType.ED25519:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(key.raw)}
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key.raw)
    numbers = point.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
