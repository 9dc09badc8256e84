"""IETF Token Status List tokens as the ``status_lists`` contract accepts them (parsing only).

A status list token (draft-ietf-oauth-status-list) is a compact JWT, ``typ: statuslist+jwt``,
whose payload is exactly ``iss`` (the issuer DID), ``sub`` (the list's URI), ``iat``, optional
``exp`` and ``ttl``, and ``status_list: {bits, lst}`` — ``lst`` is base64url of zlib-compressed
bytes. Its URI must end in ``/status-lists/<org>/<name>`` so that every node can serve it at that
path (:mod:`careledger.api.status_list_tokens`) and so that an organisation can only name lists
under its own id. The contract checks shape, not the signature (verifiers do, as for the W3C
lists): nothing in a token is free text, so no PHI has a place in it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Annotated, Literal

import msgspec

from careledger.errors import InvalidInput

MAX_TOKEN_BYTES = 128 * 1024
MAX_ENTRIES = 1_048_576
#: https, or http on loopback (local networks and tests); the path ends /status-lists/ORG/NAME
TOKEN_URI = re.compile(
    r"^(?:https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|http://(?:127\.0\.0\.1|localhost)(?::[0-9]{1,5})?)"
    r"(?:/[A-Za-z0-9._~-]+)*/status-lists/([A-Za-z][A-Za-z0-9_-]{0,31})/([A-Za-z0-9._-]{1,64})$"
)

_Did = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$")]
_DidUrl = Annotated[
    str, msgspec.Meta(max_length=300, pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%#-]+$")
]
_Time = Annotated[int, msgspec.Meta(ge=0, le=2**40)]
_Lst = Annotated[str, msgspec.Meta(max_length=MAX_TOKEN_BYTES, pattern=r"^[A-Za-z0-9_-]+$")]


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    alg: Literal["EdDSA", "Ed25519", "ES256"]
    typ: Literal["statuslist+jwt"]
    kid: _DidUrl


class _StatusListClaim(msgspec.Struct, forbid_unknown_fields=True):
    bits: Literal[1, 2, 4, 8]
    lst: _Lst


class StatusListTokenPayload(msgspec.Struct, forbid_unknown_fields=True):
    """The accepted payload of a status list token."""

    iss: _Did
    sub: Annotated[str, msgspec.Meta(max_length=300)]
    iat: _Time
    status_list: _StatusListClaim
    exp: _Time | None = None
    ttl: Annotated[int, msgspec.Meta(ge=0, le=31_536_000)] | None = None


class ParsedToken(msgspec.Struct, frozen=True):
    """What the contract needs of a token: where it lives, whose it is, and its statuses."""

    uri: str
    org: str
    name: str
    issuer: str
    bits: int
    statuses: bytes


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"status list token does not decode: {exc}") from exc


def _inflate(lst: str, bits: int) -> bytes:
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(_b64(lst), MAX_ENTRIES * bits // 8)
    except zlib.error as exc:
        raise InvalidInput(f"status_list.lst does not inflate: {exc}") from exc
    if inflater.unconsumed_tail or not inflater.eof:
        raise InvalidInput(f"status_list.lst is truncated or holds over {MAX_ENTRIES} entries")
    if not data:
        raise InvalidInput("status_list.lst is empty")
    return data


def parse_status_list_token(token: bytes) -> ParsedToken:
    """The token's location, issuer and statuses; :class:`InvalidInput` naming what is wrong."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidInput(f"status list token of {len(token)} bytes exceeds {MAX_TOKEN_BYTES}")
    try:
        parts = token.decode("ascii").split(".")
    except UnicodeDecodeError as exc:
        raise InvalidInput("a status list token is ASCII (a compact JWS)") from exc
    if len(parts) != 3 or not all(parts):
        raise InvalidInput("a status list token is a compact JWS: three dot-separated parts")
    try:
        header = msgspec.json.decode(_b64(parts[0]), type=_Header)
        payload = msgspec.json.decode(_b64(parts[1]), type=StatusListTokenPayload)
    except (msgspec.ValidationError, msgspec.DecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not an acceptable status list token: {exc}") from exc
    located = TOKEN_URI.match(payload.sub)
    if located is None:
        raise InvalidInput(
            "sub must be an https URL (http only on loopback) ending in /status-lists/ORG/NAME"
        )
    if header.kid.split("#", 1)[0] != payload.iss:
        raise InvalidInput("the token's kid is not a key of its iss")
    statuses = _inflate(payload.status_list.lst, payload.status_list.bits)
    return ParsedToken(
        payload.sub,
        located.group(1),
        located.group(2),
        payload.iss,
        payload.status_list.bits,
        statuses,
    )


def clears_a_revocation(old: bytes, new: bytes, bits: int) -> bool:
    """True when an entry whose status was 1 (INVALID: revoked) has another status in ``new``."""
    mask = (1 << bits) - 1
    for old_byte, new_byte in zip(old, new, strict=True):
        if old_byte == new_byte:
            continue
        for shift in range(0, 8, bits):
            if (old_byte >> shift) & mask == 1 and (new_byte >> shift) & mask != 1:
                return True
    return False
