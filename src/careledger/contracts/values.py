"""Encoding of typed state values: canonical CBOR of ``{"t": type name, "v": fields}``.

The type name is stored so a value read back is checked against the schema its key prefix
declares; a value of another type is a contract fault, not silently reinterpreted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from careledger.crypto import encoding
from careledger.errors import ContractError, EncodingError

MAX_VALUE_BYTES = 256 * 1024


def encode_value(value: msgspec.Struct, expected: type[msgspec.Struct]) -> bytes:
    if type(value) is not expected:
        raise ContractError(
            f"value of type {type(value).__name__} does not match schema {expected.__name__}"
        )
    try:
        data = encoding.encode(
            {"t": expected.__name__, "v": msgspec.to_builtins(value, builtin_types=(bytes,))}
        )
    except EncodingError as exc:
        raise ContractError(f"value of type {expected.__name__}: {exc}") from exc
    if len(data) > MAX_VALUE_BYTES:
        raise ContractError(f"state value of {len(data)} bytes exceeds {MAX_VALUE_BYTES}")
    return data


def decode_value(data: bytes, expected: type[msgspec.Struct]) -> Any:
    obj = encoding.decode(data, canonical=False)
    if not isinstance(obj, dict) or obj.get("t") != expected.__name__:
        found = obj.get("t") if isinstance(obj, dict) else type(obj).__name__
        raise ContractError(f"stored value is a {found!r}, schema expects {expected.__name__}")
    if "v" not in obj:  # bytes from a write set: any shape may arrive, refuse it as a fault
        raise ContractError(f"stored {expected.__name__} has no value")
    try:
        return msgspec.convert(obj["v"], expected)
    except msgspec.ValidationError as exc:
        raise ContractError(f"stored {expected.__name__} does not match its schema: {exc}") from exc
