"""SQLite world state: the embedded default.

One writer per database file (the peer's commit path) and readers through the same connection
on the peer's event-loop thread; WAL mode lets other processes (``careledger`` queries, tools)
read while a block commits. ``synchronous=NORMAL`` is safe here because the block file is fsynced
before the state commit: a state commit lost to power failure is replayed from the block store.
"""

from __future__ import annotations

import threading
from pathlib import Path

from careledger.errors import StorageError
from careledger.ledger.state.base import (
    EMPTY_ROOT,
    BlockUpdate,
    HistoryEntry,
    TxRecord,
    VersionedValue,
)
from careledger.sqlite_files import open_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, vblock INTEGER NOT NULL,
    vtx INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    ns TEXT NOT NULL, key TEXT NOT NULL, vblock INTEGER NOT NULL, vtx INTEGER NOT NULL,
    value BLOB, tx_id TEXT NOT NULL, PRIMARY KEY (ns, key, vblock, vtx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txs (
    tx_id TEXT PRIMARY KEY, block INTEGER NOT NULL, idx INTEGER NOT NULL, code INTEGER NOT NULL
) WITHOUT ROWID;
"""


class SQLiteStateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_wal(self.path, _SCHEMA, "the state database")
        self._lock = threading.Lock()
        self._height = int(self._meta("height", b"0").decode())
        self._root = self._meta("root", EMPTY_ROOT)

    def _meta(self, key: str, default: bytes) -> bytes:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return bytes(row[0]) if row else default

    def reload(self) -> None:
        """Read height and state root again: for a reader of a database another process commits
        to (an embedded consortium's peer worker)."""
        with self._lock:
            self._height = int(self._meta("height", b"0").decode())
            self._root = self._meta("root", EMPTY_ROOT)

    def height(self) -> int:
        return self._height

    def state_root(self) -> bytes:
        return self._root

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        row = self._db.execute(
            "SELECT value, vblock, vtx FROM state WHERE ns = ? AND key = ?", (namespace, key)
        ).fetchone()
        return None if row is None else VersionedValue(row[0], (row[1], row[2]))

    def range(
        self, namespace: str, start: str, end: str, limit: int | None = None
    ) -> list[tuple[str, VersionedValue]]:
        sql = "SELECT key, value, vblock, vtx FROM state WHERE ns = ? AND key >= ?"
        params: list[object] = [namespace, start]
        if end:
            sql += " AND key < ?"
            params.append(end)
        sql += " ORDER BY key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._db.execute(sql, params).fetchall()
        return [(r[0], VersionedValue(r[1], (r[2], r[3]))) for r in rows]

    def history(self, namespace: str, key: str) -> list[HistoryEntry]:
        rows = self._db.execute(
            "SELECT vblock, vtx, value, tx_id FROM history WHERE ns = ? AND key = ?"
            " ORDER BY vblock, vtx",
            (namespace, key),
        ).fetchall()
        return [HistoryEntry((r[0], r[1]), r[2], r[3]) for r in rows]

    def tx(self, tx_id: str) -> TxRecord | None:
        row = self._db.execute(
            "SELECT block, idx, code FROM txs WHERE tx_id = ?", (tx_id,)
        ).fetchone()
        return None if row is None else TxRecord(tx_id, row[0], row[1], row[2])

    def commit(self, update: BlockUpdate) -> None:
        with self._lock:
            if update.number != self._height:
                raise StorageError(
                    f"commit of block {update.number} at state height {self._height}"
                )
            root = update.next_root(self._root)
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                # The last write of a key in the block wins (a delete then a put leaves the put).
                last = {(w.namespace, w.key): w for w in update.writes}.values()
                puts = [
                    (w.namespace, w.key, w.value, w.version[0], w.version[1])
                    for w in last
                    if w.value is not None
                ]
                dels = [(w.namespace, w.key) for w in last if w.value is None]
                if puts:
                    db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", puts)
                if dels:
                    db.executemany("DELETE FROM state WHERE ns = ? AND key = ?", dels)
                db.executemany(
                    "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (w.namespace, w.key, w.version[0], w.version[1], w.value, w.tx_id)
                        for w in update.writes
                    ],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO txs VALUES (?, ?, ?, ?)",
                    [(t.tx_id, t.block, t.index, t.code) for t in update.txs],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("height", str(update.number + 1).encode()), ("root", root)],
                )
                db.execute("COMMIT")
            except Exception as exc:  # sqlite3.Error, and OverflowError etc. from binding values
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StorageError(f"state commit of block {update.number} failed: {exc}") from exc
            self._height = update.number + 1
            self._root = root

    def close(self) -> None:
        self._db.close()
