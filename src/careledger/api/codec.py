"""Bytes on the JSON wire: unpadded base64url (RFC 4648 §5), and JSON views of ledger values.

Signed structures (proposals, responses, blocks) travel as base64url of their canonical CBOR so
signatures stay over exact bytes; values a contract returns or emits are shown as JSON, with byte
strings as base64url text.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from careledger.errors import InvalidInput

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str, what: str, limit: int) -> bytes:
    """Decode unpadded base64url; raises InvalidInput naming ``what`` on bad or oversized input."""
    if len(text) > (limit * 4 + 2) // 3:
        raise InvalidInput(f"{what}: more than {limit} bytes")
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise InvalidInput(f"{what}: not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what}: not unpadded base64url") from exc


def to_json(value: Any) -> Any:
    """A ledger value (builtins with bytes) as JSON-ready data; bytes become base64url text."""
    if isinstance(value, bytes):
        return b64e(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value
