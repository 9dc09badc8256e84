"""SD-JWT (RFC 9901) and SD-JWT VC: issue with selectively disclosable claims, present a subset
with a key-binding JWT, and decode/verify the cryptographic layer.

Claim paths are dot-separated object keys (``address.street``); a disclosed array element is
reported as ``<path>[]``. Policy (trust, status, which claims a verifier asked for) is applied by
:mod:`careledger.credentials.verifier`, not here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.jws import CompactJws, sign_compact
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.jwk import b64url, b64url_decode, jwk_from_public_key
from careledger.identity.did.keys import Ed25519Signer

TYP = "dc+sd-jwt"
ACCEPTED_TYPS = frozenset({TYP, "vc+sd-jwt"})
KB_TYP = "kb+jwt"
SD_ALG = "sha-256"
_SALT_BYTES = 16  # 128 bits, the RFC 9901 §9.3 minimum recommendation
_RESERVED = frozenset({"_sd", "...", "_sd_alg"})


def _digest(encoded: str) -> str:
    return b64url(hashlib.sha256(encoded.encode("ascii")).digest())


@dataclass(frozen=True)
class Disclosure:
    """A disclosure: ``[salt, name, value]`` (property) or ``[salt, value]`` (array element)."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @property
    def digest(self) -> str:
        """The SHA-256 digest that the issuer-signed JWT embeds."""
        return _digest(self.encoded)

    @classmethod
    def create(cls, name: str | None, value: Any) -> Disclosure:
        """A disclosure with a fresh 128-bit salt."""
        salt = b64url(secrets.token_bytes(_SALT_BYTES))
        array = [salt, name, value] if name is not None else [salt, value]
        encoded = b64url(json.dumps(array, ensure_ascii=False).encode("utf-8"))
        return cls(encoded, salt, name, value)

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        """Decode a disclosure; raises :class:`CredentialFormatError` if malformed."""
        try:
            array = json.loads(b64url_decode(encoded))
        except (InvalidDid, ValueError) as exc:
            raise CredentialFormatError("disclosure does not decode") from exc
        if not isinstance(array, list) or len(array) not in (2, 3) or not isinstance(array[0], str):
            raise CredentialFormatError("disclosure must be [salt, name, value] or [salt, value]")
        if len(array) == 3:
            if not isinstance(array[1], str) or array[1] in _RESERVED:
                raise CredentialFormatError("disclosure claim name is invalid")
            return cls(encoded, array[0], array[1], array[2])
        return cls(encoded, array[0], None, array[1])


@dataclass(frozen=True)
class SdJwt:
    """An SD-JWT or SD-JWT+KB split into its parts (nothing verified yet)."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @classmethod
    def parse(cls, text: str) -> SdJwt:
        """Split ``<jwt>~<disclosure>~…~[<kb-jwt>]``."""
        parts = text.split("~")
        if len(parts) < 2:
            raise CredentialFormatError("an SD-JWT has at least one '~'")
        kb = parts[-1] or None
        return cls(parts[0], tuple(parts[1:-1]), kb)

    @property
    def presentation_prefix(self) -> str:
        """The SD-JWT without the KB-JWT, ending in ``~`` (what ``sd_hash`` covers)."""
        return "~".join([self.issuer_jwt, *self.disclosures]) + "~"

    def serialize(self) -> str:
        """The compact text form."""
        return self.presentation_prefix + (self.kb_jwt or "")


def _make_sd(
    obj: Mapping[str, Any], paths: set[str], out: list[Disclosure], decoys: int
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    digests: list[str] = []
    for key, value in obj.items():
        nested = {p[len(key) + 1 :] for p in paths if p.startswith(key + ".")}
        if nested:
            if not isinstance(value, Mapping):
                raise CredentialFormatError(f"{key} is not an object; cannot disclose inside it")
            value = _make_sd(value, nested, out, 0)
        if key in paths:
            disclosure = Disclosure.create(key, value)
            out.append(disclosure)
            digests.append(disclosure.digest)
        else:
            result[key] = value
    if digests:
        digests.extend(b64url(secrets.token_bytes(32)) for _ in range(decoys))
        result["_sd"] = sorted(digests)
    return result


def issue(
    claims: Mapping[str, Any],
    disclosable: Iterable[str],
    signer: Ed25519Signer,
    kid: str | None,
    holder_jwk: Mapping[str, Any] | None = None,
    typ: str = TYP,
    decoys: int = 2,
) -> str:
    """An SD-JWT (ending in ``~``) whose ``disclosable`` claim paths are selectively disclosable.

    ``claims`` are the JWT claims (``iss``, ``vct``, ``iat``, ``exp`` …); ``holder_jwk`` becomes
    ``cnf.jwk`` so only the holder can present it. ``kid`` is the issuer's verification method
    (None leaves the header without one: verifiers then need an issuer with a single assertion key).
    """
    paths = set(disclosable)
    missing = [p for p in paths if not _has_path(claims, p)]
    if missing:
        raise CredentialFormatError(f"disclosable claims not in the credential: {sorted(missing)}")
    if paths & {"iss", "vct", "cnf", "iat", "exp", "nbf", "status"}:
        raise CredentialFormatError("iss, vct, cnf, iat, exp, nbf and status stay visible")
    disclosures: list[Disclosure] = []
    payload = _make_sd(claims, paths, disclosures, decoys)
    payload["_sd_alg"] = SD_ALG
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    header = {"typ": typ} if kid is None else {"typ": typ, "kid": kid}
    jwt = sign_compact(header, payload, signer)
    return "~".join([jwt, *(d.encoded for d in disclosures)]) + "~"


def _has_path(claims: Mapping[str, Any], path: str) -> bool:
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


@dataclass
class Decoded:
    """The issuer JWT with disclosures applied."""

    jws: CompactJws
    claims: dict[str, Any]
    disclosed_paths: dict[str, str] = field(default_factory=dict)  # digest -> path


def decode(sd_jwt: SdJwt) -> Decoded:
    """Parse the issuer JWT and apply the disclosures (RFC 9901 §7.1 steps 3 to 5); the signature is
    *not* checked here. Raises :class:`CredentialFormatError` on any structural violation."""
    jws = CompactJws.parse(sd_jwt.issuer_jwt)
    if jws.payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise CredentialFormatError(f"unsupported _sd_alg {jws.payload.get('_sd_alg')!r}")
    by_digest: dict[str, Disclosure] = {}
    for encoded in sd_jwt.disclosures:
        disclosure = Disclosure.parse(encoded)
        if disclosure.digest in by_digest:
            raise CredentialFormatError("the same disclosure appears twice")
        by_digest[disclosure.digest] = disclosure
    decoded = Decoded(jws, {})
    seen: set[str] = set()
    decoded.claims = _apply(jws.payload, by_digest, seen, decoded.disclosed_paths, "")
    decoded.claims.pop("_sd_alg", None)
    unused = set(by_digest) - seen
    if unused:
        raise CredentialFormatError(f"{len(unused)} disclosure(s) not referenced by the issuer JWT")
    return decoded


def _apply(
    node: Any, by_digest: Mapping[str, Disclosure], seen: set[str], paths: dict[str, str], path: str
) -> Any:
    if isinstance(node, list):
        element = (path[:-1] if path.endswith(".") else path) + "[]"
        out_list: list[Any] = []
        for item in node:
            if isinstance(item, Mapping) and set(item) == {"..."}:
                digest = item["..."]
                _mark(digest, seen)
                disclosure = by_digest.get(digest)
                if disclosure is None:
                    continue
                if disclosure.name is not None:
                    raise CredentialFormatError("array element disclosure has a claim name")
                paths[digest] = element
                out_list.append(_apply(disclosure.value, by_digest, seen, paths, element + "."))
            else:
                out_list.append(_apply(item, by_digest, seen, paths, element + "."))
        return out_list
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "_sd":
            continue
        out[key] = _apply(value, by_digest, seen, paths, f"{path}{key}.")
    sd = node.get("_sd", [])
    if not isinstance(sd, list):
        raise CredentialFormatError("_sd must be an array")
    for digest in sd:
        _mark(digest, seen)
        disclosure = by_digest.get(digest)
        if disclosure is None:
            continue
        if disclosure.name is None:
            raise CredentialFormatError("object property disclosure has no claim name")
        if disclosure.name in out:
            raise CredentialFormatError(f"disclosed claim {disclosure.name} already exists")
        paths[digest] = f"{path}{disclosure.name}"
        out[disclosure.name] = _apply(
            disclosure.value, by_digest, seen, paths, f"{path}{disclosure.name}."
        )
    return out


def _mark(digest: Any, seen: set[str]) -> None:
    if not isinstance(digest, str):
        raise CredentialFormatError("digest must be a string")
    if digest in seen:
        raise CredentialFormatError("a digest appears more than once in the issuer JWT")
    seen.add(digest)


def sd_hash(prefix: str) -> str:
    """``sd_hash`` of a presentation prefix (the SD-JWT up to and including its last ``~``)."""
    return _digest(prefix)


def present(
    sd_jwt: str,
    reveal: Sequence[str],
    holder: Ed25519Signer | None,
    audience: str,
    nonce: str,
    clock: Callable[[], float] = time.time,
) -> str:
    """An SD-JWT+KB disclosing only ``reveal`` (claim paths; parents are included as needed).

    With ``holder`` None no key-binding JWT is attached (only for credentials without ``cnf``).
    """
    parsed = SdJwt.parse(sd_jwt)
    decoded = decode(SdJwt(parsed.issuer_jwt, parsed.disclosures, None))
    wanted = set(reveal)
    keep: list[str] = []
    for encoded in parsed.disclosures:
        path = decoded.disclosed_paths[_digest(encoded)]
        if any(w == path or w.startswith(path + ".") for w in wanted):
            keep.append(encoded)
    chosen = SdJwt(parsed.issuer_jwt, tuple(keep), None)
    if holder is None:
        return chosen.serialize()
    kb = sign_compact(
        {"typ": KB_TYP},
        {
            "iat": int(clock()),
            "aud": audience,
            "nonce": nonce,
            "sd_hash": sd_hash(chosen.presentation_prefix),
        },
        holder,
    )
    return chosen.presentation_prefix + kb


def holder_jwk(holder: Ed25519Signer) -> dict[str, str]:
    """The public JWK to put in ``cnf`` for ``holder``."""
    return jwk_from_public_key(holder.public_key)
