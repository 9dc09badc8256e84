"""Opening the local SQLite files CareLedger keeps (world state, FHIR store, ledger outbox).

One way for all: autocommit mode (callers run their own ``BEGIN IMMEDIATE`` transactions), usable
from any thread (callers hold their own lock), WAL with ``synchronous=NORMAL`` (a committed
transaction survives a crash of the process; the block file is fsynced separately), the schema
applied idempotently, and a :class:`StorageError` naming the file when it cannot be opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from careledger.errors import StorageError


def open_wal(
    path: str | Path, schema: str, what: str, *, pragmas: Sequence[str] = ()
) -> sqlite3.Connection:
    """``path`` (or ``":memory:"``) opened as described above; ``what`` names it in errors,
    ``pragmas`` are more ``PRAGMA`` statements (e.g. ``"secure_delete=ON"``)."""
    try:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        db.executescript(schema)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {what} at {path}: {exc}") from exc
    return db
