"""Canonical byte encoding for everything that is signed or hashed.

CareLedger uses *deterministic CBOR* (RFC 8949 §4.2.1, "core deterministic encoding"): shortest
integer and length forms, definite lengths, map keys sorted by their encoded bytes. The encoder is
``cbor2`` with ``canonical=True``. CBOR was chosen over JSON (JCS) because signatures, hashes and
keys are byte strings and stay byte strings, and because a decoder can re-encode and compare to
reject non-canonical input.

Floats are refused in signed structures: their canonical form invites cross-implementation drift
and no ledger value needs them (amounts are integers of the smallest unit).

This module is not for state *schemas*; see :mod:`careledger.contracts.schema`.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import cbor2

from careledger.errors import EncodingError

#: Hard upper bound on any single decoded object (a transaction or a block payload).
MAX_DECODE_BYTES = 16 * 1024 * 1024
_MAX_DEPTH = 32


def encode(value: Any) -> bytes:
    """Encode ``value`` (None, bool, int, str, bytes, list, tuple, dict) canonically."""
    _check(value, 0)
    try:
        return bytes(cbor2.dumps(value, canonical=True))
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise EncodingError(f"cannot encode value canonically: {exc}") from exc


def encode_trusted(value: Any) -> bytes:
    """Encode a value built by CareLedger itself (skips the type walk; hot paths only)."""
    return bytes(cbor2.dumps(value, canonical=True))


def decode(data: bytes, *, canonical: bool = True) -> Any:
    """Decode ``data``; with ``canonical`` (the default) reject any non-canonical encoding."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_DECODE_BYTES:
        raise EncodingError(f"encoded object of {len(data)} bytes exceeds {MAX_DECODE_BYTES}")
    raw = bytes(data)
    try:
        value = cbor2.loads(raw)
    except Exception as exc:  # cbor2 raises several unrelated types on hostile input
        raise EncodingError(f"not valid CBOR: {exc}") from exc
    # Canonical decoding (for bytes whose hash is an identity, such as proposals) also refuses
    # floats, tags and excessive nesting, then re-encodes and compares to reject every
    # non-canonical form. Other callers check shape with a strict typed conversion.
    if canonical:
        # The same bytes come back several times in one process (a proposal: at each endorser
        # and each validating peer): their SHA-256 remembers that they passed, and a hit skips
        # the walk and the re-encoding (profiled: the largest cost of `bench ledger`'s loop).
        digest = hashlib.sha256(raw).digest()
        if digest in _canonical_seen:
            return value
        _check(value, 0)
        if encode_trusted(value) != raw:
            raise EncodingError("CBOR is not in canonical (deterministic) form")
        remember_canonical([digest])
    return value


def remember_canonical(digests: list[bytes]) -> None:
    """Record SHA-256 digests of byte strings known to be canonical CBOR (checked by
    :func:`decode`, or made by :func:`encode`) — how a peer's worker process learns what its
    endorsing side already checked."""
    with _canonical_lock:
        for digest in digests:
            _canonical_seen[digest] = None
        while len(_canonical_seen) > _CANONICAL_SEEN_MAX:
            del _canonical_seen[next(iter(_canonical_seen))]  # the oldest


#: SHA-256 of byte strings that decoded as canonical CBOR in this process (oldest forgotten).
_canonical_seen: dict[bytes, None] = {}
_CANONICAL_SEEN_MAX = 65_536
_canonical_lock = threading.Lock()


_SCALARS = frozenset({type(None), bool, int, str, bytes})


def _check(value: Any, depth: int) -> None:
    # Hot path (every canonical decode, several per transaction): exact container types are walked
    # with the scalar test inlined, so a call is made per nested container rather than per value
    # (profiled: the per-value calls were 14 % of `bench ledger`'s event loop).
    kind = type(value)
    if kind in _SCALARS:
        return
    if depth > _MAX_DEPTH:
        raise EncodingError(f"value nested deeper than {_MAX_DEPTH} levels")
    if kind is list or kind is tuple:
        for item in value:
            if type(item) not in _SCALARS:
                _check(item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str | int):
                raise EncodingError(f"map keys must be text or integers, got {type(key).__name__}")
            if type(item) not in _SCALARS:
                _check(item, depth + 1)
        return
    _check_generic(value, depth)


def _check_generic(value: Any, depth: int) -> None:
    """Subclasses of the allowed types (an IntEnum, an OrderedDict), and the refusals."""
    if isinstance(value, bool | int | str | bytes):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise EncodingError(f"map keys must be text or integers, got {type(key).__name__}")
            _check(item, depth + 1)
        return
    if isinstance(value, float):
        raise EncodingError("floats are not allowed in signed or hashed values")
    raise EncodingError(f"type {type(value).__name__} has no canonical encoding")
