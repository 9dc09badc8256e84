"""SHA-256 hashing of canonical values and of raw bytes."""

from __future__ import annotations

import hashlib
from typing import Any

from careledger.crypto.encoding import encode


def sha256(data: bytes) -> bytes:
    """The SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def hash_value(value: Any) -> bytes:
    """SHA-256 of the canonical encoding of ``value``."""
    return hashlib.sha256(encode(value)).digest()
