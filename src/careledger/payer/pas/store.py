"""What the payer keeps off chain about prior authorizations: the request Bundles it received,
the Patient entry each response echoes, the reviewers' explanations (the ledger holds only
their hashes) and the requesters' rest-hook subscriptions. A :class:`PasStore` protocol, an
in-memory implementation for tests and a SQLite one for the node.

Not for: anything the parties must agree on — that is the ``prior_auth`` contract's state.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Protocol

import msgspec

from careledger.sqlite_files import open_wal

JSON = dict[str, Any]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PasStore(Protocol):
    """Bundles by content hash, Patient entries by authorization number, texts by hash."""

    def put_bundle(self, digest: str, body: bytes) -> None: ...

    def bundle(self, digest: str) -> bytes | None: ...

    def put_patient(self, number: str, entry: JSON) -> None: ...

    def patient(self, number: str) -> JSON | None: ...

    def put_text(self, text: str) -> str:
        """Store ``text``; returns its SHA-256 hex (what goes on chain)."""
        ...

    def text(self, digest: str) -> str | None: ...

    def put_subscriptions(self, org: str, endpoints: list[str]) -> None:
        """Replace ``org``'s rest-hook endpoints."""
        ...

    def subscriptions(self, org: str) -> list[str]: ...


class MemoryPasStore:
    def __init__(self) -> None:
        self._bundles: dict[str, bytes] = {}
        self._patients: dict[str, JSON] = {}
        self._texts: dict[str, str] = {}
        self._hooks: dict[str, list[str]] = {}

    def put_bundle(self, digest: str, body: bytes) -> None:
        self._bundles[digest] = body

    def bundle(self, digest: str) -> bytes | None:
        return self._bundles.get(digest)

    def put_patient(self, number: str, entry: JSON) -> None:
        self._patients[number] = entry

    def patient(self, number: str) -> JSON | None:
        return self._patients.get(number)

    def put_text(self, text: str) -> str:
        digest = text_hash(text)
        self._texts[digest] = text
        return digest

    def text(self, digest: str) -> str | None:
        return self._texts.get(digest)

    def put_subscriptions(self, org: str, endpoints: list[str]) -> None:
        self._hooks[org] = list(endpoints)

    def subscriptions(self, org: str) -> list[str]:
        return list(self._hooks.get(org, []))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pas_item (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


class SQLitePasStore:
    """One table of (kind, key) → bytes; one writer at a time."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_wal(path, _SCHEMA, "PAS store")
        self._lock = threading.Lock()

    def _put(self, kind: str, key: str, body: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO pas_item (kind, key, body) VALUES (?, ?, ?)",
                (kind, key, body),
            )

    def _get(self, kind: str, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM pas_item WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def put_bundle(self, digest: str, body: bytes) -> None:
        self._put("bundle", digest, body)

    def bundle(self, digest: str) -> bytes | None:
        return self._get("bundle", digest)

    def put_patient(self, number: str, entry: JSON) -> None:
        self._put("patient", number, msgspec.json.encode(entry))

    def patient(self, number: str) -> JSON | None:
        raw = self._get("patient", number)
        return None if raw is None else msgspec.json.decode(raw)

    def put_text(self, text: str) -> str:
        digest = text_hash(text)
        self._put("text", digest, text.encode())
        return digest

    def text(self, digest: str) -> str | None:
        raw = self._get("text", digest)
        return None if raw is None else raw.decode()

    def put_subscriptions(self, org: str, endpoints: list[str]) -> None:
        self._put("hooks", org, msgspec.json.encode(endpoints))

    def subscriptions(self, org: str) -> list[str]:
        raw = self._get("hooks", org)
        return [] if raw is None else msgspec.json.decode(raw, type=list[str])

    def close(self) -> None:
        with self._lock:
            self._db.close()
