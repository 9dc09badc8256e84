"""PostgreSQL world state: one schema per peer, for deployments that run a real database.

Same semantics as :mod:`.sqlite` and :mod:`.memory`: the conformance suite
``tests/ledger/test_state_stores.py`` runs one set of tests over all three. Keys are ``text
COLLATE "C"`` so that PostgreSQL orders them by code point, as Python orders ``str``; the
database must use the UTF8 encoding. PostgreSQL ``text`` cannot hold U+0000, so a namespace or key
containing it is rejected with :class:`~careledger.errors.InvalidInput` before anything is written
(reads of such a key find nothing; a range bound containing it is rejected the same way).

One connection, used under a lock: reads run one statement each in autocommit mode (so the
connection never idles inside a transaction, holding a snapshot), and ``commit`` is one explicit
transaction that writes the block's state, history and tx index together with the new height and
root. A block is bulk-loaded with ``COPY`` into session-local staging tables and applied with a
few set-based statements, so a block costs a constant number of round trips.

Several peers (or test cases) can share one server, each in its own schema. This module is not a
connection pool. A lost connection (the server restarted, a network blip) is reconnected for up
to :data:`RECONNECT_SECONDS`, the session's staging tables restored, and the call made once
more; a commit whose outcome the lost connection hid is settled from the stored height and root
(done, or done again). If the server came back *behind* what this store acknowledged (a crash
lost commits not yet flushed), every call raises StorageError: the peer stops, and on restart
replays the missing blocks from its block file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from careledger.errors import InvalidInput, StorageError
from careledger.ledger.state.base import (
    EMPTY_ROOT,
    BlockUpdate,
    HistoryEntry,
    TxRecord,
    VersionedValue,
)

_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    height bigint NOT NULL, root bytea NOT NULL);
INSERT INTO {s}.meta (height, root) VALUES (0, {empty_root}) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.state (
    ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value bytea NOT NULL,
    vblock bigint NOT NULL, vtx bigint NOT NULL, PRIMARY KEY (ns, key));
CREATE TABLE IF NOT EXISTS {s}.history (
    ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, vblock bigint NOT NULL,
    vtx bigint NOT NULL, value bytea, tx_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (ns, key, vblock, vtx));
CREATE TABLE IF NOT EXISTS {s}.txs (
    tx_id text COLLATE "C" PRIMARY KEY, block bigint NOT NULL, idx bigint NOT NULL,
    code bigint NOT NULL);
"""

# Session-local, emptied at every commit; pg_temp is per connection, so peers sharing a server
# do not see each other's.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS staged_write (
    seq integer NOT NULL, ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
    value bytea, vblock bigint NOT NULL, vtx bigint NOT NULL, tx_id text COLLATE "C" NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staged_tx (
    seq integer NOT NULL, tx_id text COLLATE "C" NOT NULL, block bigint NOT NULL,
    idx bigint NOT NULL, code bigint NOT NULL
) ON COMMIT DELETE ROWS;
"""

_COPY_WRITES = "COPY pg_temp.staged_write (seq, ns, key, value, vblock, vtx, tx_id) FROM STDIN"
_WRITE_TYPES = ["int4", "text", "text", "bytea", "int8", "int8", "text"]
_COPY_TXS = "COPY pg_temp.staged_tx (seq, tx_id, block, idx, code) FROM STDIN"
_TX_TYPES = ["int4", "text", "int8", "int8", "int8"]

# Within a block, writes apply in order: the last write of a key decides its state, and a write
# repeating a (key, version) replaces the earlier history entry, as in the SQLite store.
_LAST_WRITE = """(SELECT DISTINCT ON (ns, key) ns, key, value, vblock, vtx
    FROM pg_temp.staged_write ORDER BY ns, key, seq DESC)"""

_APPLY = {
    "apply_history": """
INSERT INTO {s}.history (ns, key, vblock, vtx, value, tx_id)
SELECT DISTINCT ON (ns, key, vblock, vtx) ns, key, vblock, vtx, value, tx_id
FROM pg_temp.staged_write ORDER BY ns, key, vblock, vtx, seq DESC
ON CONFLICT (ns, key, vblock, vtx) DO UPDATE SET value = EXCLUDED.value, tx_id = EXCLUDED.tx_id
""",
    "apply_upsert": f"""
INSERT INTO {{s}}.state (ns, key, value, vblock, vtx)
SELECT ns, key, value, vblock, vtx FROM {_LAST_WRITE} AS last WHERE value IS NOT NULL
ON CONFLICT (ns, key) DO UPDATE
SET value = EXCLUDED.value, vblock = EXCLUDED.vblock, vtx = EXCLUDED.vtx
""",
    "apply_delete": f"""
DELETE FROM {{s}}.state AS st USING {_LAST_WRITE} AS last
WHERE last.value IS NULL AND st.ns = last.ns AND st.key = last.key
""",
}

# The first occurrence of a tx id wins: earlier blocks by ON CONFLICT, this block by seq.
_APPLY_TXS = """
INSERT INTO {s}.txs (tx_id, block, idx, code)
SELECT DISTINCT ON (tx_id) tx_id, block, idx, code FROM pg_temp.staged_tx ORDER BY tx_id, seq
ON CONFLICT (tx_id) DO NOTHING
"""

_READS = {
    "meta": "SELECT height, root FROM {s}.meta",
    "lock_meta": "SELECT height FROM {s}.meta FOR UPDATE",
    "set_meta": "UPDATE {s}.meta SET height = %s, root = %s",
    "get": "SELECT value, vblock, vtx FROM {s}.state WHERE ns = %s AND key = %s",
    "range": "SELECT key, value, vblock, vtx FROM {s}.state WHERE ns = %s AND key >= %s"
    " ORDER BY key LIMIT %s",
    "range_to": "SELECT key, value, vblock, vtx FROM {s}.state"
    " WHERE ns = %s AND key >= %s AND key < %s ORDER BY key LIMIT %s",
    "history": "SELECT vblock, vtx, value, tx_id FROM {s}.history WHERE ns = %s AND key = %s"
    " ORDER BY vblock, vtx",
    "tx": "SELECT block, idx, code FROM {s}.txs WHERE tx_id = %s",
}


RECONNECT_SECONDS = 30.0
"""How long a lost connection is retried (a server restart with crash recovery takes seconds)."""

T = TypeVar("T")


class PostgresStateStore:
    def __init__(self, dsn: str, schema: str = "careledger") -> None:
        if not schema or len(schema.encode()) > _MAX_IDENTIFIER_BYTES or "\0" in schema:
            raise InvalidInput(
                f"schema name must be 1 to {_MAX_IDENTIFIER_BYTES} bytes: {schema!r}"
            )
        self.schema = schema
        self._dsn = dsn
        self._lock = threading.Lock()
        self._behind: str | None = None  # set when the server came back behind this store
        try:
            self._db = psycopg.connect(dsn, autocommit=True, application_name="careledger")
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to the PostgreSQL state database: {exc}") from exc
        try:
            self._sql = self._prepare_sql()
            self._create_schema()
            row = self._one("meta")
        except BaseException:
            self._db.close()
            raise
        if row is None:  # the schema script inserts the only meta row; someone deleted it
            self._db.close()
            raise StorageError(f"schema {schema} has no meta row: the state store is damaged")
        self._height = int(row[0])
        self._root = bytes(row[1])

    def _prepare_sql(self) -> dict[str, bytes]:
        s = sql.Identifier(self.schema)
        texts = {**_READS, **_APPLY, "apply_txs": _APPLY_TXS}
        return {k: sql.SQL(v).format(s=s).as_bytes(self._db) for k, v in texts.items()}

    def _create_schema(self) -> None:
        with self._errors("cannot create the state schema"):
            encoding = self._db.execute("SHOW server_encoding").fetchone()
            if encoding is None or encoding[0] != "UTF8":
                raise StorageError(
                    "the state database must use the UTF8 encoding, not "
                    f"{encoding and encoding[0]}: key order and non-ASCII keys depend on it"
                )
            script = sql.SQL(_SCHEMA).format(
                s=sql.Identifier(self.schema), empty_root=sql.Literal(EMPTY_ROOT)
            )
            with self._db.transaction():
                # Peers opening the same schema at once would race on CREATE ... IF NOT EXISTS.
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
                self._db.execute(script)
            self._db.execute(_STAGING)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StorageError(f"{doing} (schema {self.schema}): {exc}") from exc

    def _lost(self) -> bool:
        return bool(self._db.closed or self._db.broken)

    def _reconnect(self) -> None:
        """Connect again (for up to :data:`RECONNECT_SECONDS`), restore the session's staging
        tables, and check the stored height and root against what this store acknowledged."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                db = psycopg.connect(self._dsn, autocommit=True, application_name="careledger")
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise StorageError(
                        f"lost the PostgreSQL state database (schema {self.schema}) and could "
                        f"not reconnect within {RECONNECT_SECONDS:g} s: {exc}"
                    ) from exc
                time.sleep(0.25)
        self._db.close()
        self._db = db
        with self._errors("cannot restore the state session"):
            db.execute(_STAGING)
            row = db.execute(self._sql["meta"]).fetchone()
        if row is None or int(row[0]) < self._height:
            self._behind = (
                f"the state database came back at height {None if row is None else row[0]}, "
                f"behind the {self._height} this store acknowledged: restart the peer to replay"
            )

    def _call(self, doing: str, action: Callable[[], T], again: Callable[[], T] | None = None) -> T:
        """``action`` under the lock; after reconnecting, if the connection was lost, ``again``
        (default: ``action``) once."""
        with self._lock:
            if self._behind:
                raise StorageError(self._behind)
            try:
                with self._errors(doing):
                    return action()
            except StorageError:
                if not self._lost():
                    raise
            self._reconnect()
            if self._behind:
                raise StorageError(self._behind)
            with self._errors(doing):
                return (again or action)()

    def _one(self, name: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._call(
            "state read failed", lambda: self._db.execute(self._sql[name], params).fetchone()
        )

    def _all(self, name: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._call(
            "state read failed", lambda: self._db.execute(self._sql[name], params).fetchall()
        )

    def height(self) -> int:
        return self._height

    def state_root(self) -> bytes:
        return self._root

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        if _has_nul(namespace, key):
            return None
        row = self._one("get", (namespace, key))
        return None if row is None else VersionedValue(row[0], (row[1], row[2]))

    def range(
        self, namespace: str, start: str, end: str, limit: int | None = None
    ) -> list[tuple[str, VersionedValue]]:
        if _has_nul(namespace, start, end):
            raise InvalidInput(f"PostgreSQL text cannot hold U+0000: range {start!r} to {end!r}")
        if end:
            rows = self._all("range_to", (namespace, start, end, limit))
        else:
            rows = self._all("range", (namespace, start, limit))
        return [(r[0], VersionedValue(r[1], (r[2], r[3]))) for r in rows]

    def history(self, namespace: str, key: str) -> list[HistoryEntry]:
        if _has_nul(namespace, key):
            return []
        rows = self._all("history", (namespace, key))
        return [HistoryEntry((r[0], r[1]), r[2], r[3]) for r in rows]

    def tx(self, tx_id: str) -> TxRecord | None:
        if _has_nul(tx_id):
            return None
        row = self._one("tx", (tx_id,))
        return None if row is None else TxRecord(tx_id, row[0], row[1], row[2])

    def commit(self, update: BlockUpdate) -> None:
        _check_text(update)
        if update.number != self._height:
            raise StorageError(f"commit of block {update.number} at state height {self._height}")
        root = update.next_root(self._root)

        def settle() -> None:
            stored = self._db.execute(self._sql["meta"]).fetchone()
            if stored is not None and stored[0] == update.number + 1 and bytes(stored[1]) == root:
                return  # the lost connection hid a commit that had happened
            self._apply(update, root)

        doing = f"state commit of block {update.number} failed"
        self._call(doing, lambda: self._apply(update, root), settle)
        self._height = update.number + 1
        self._root = root

    def _apply(self, update: BlockUpdate, root: bytes) -> None:
        """One transaction: the block's writes, history and tx index, the new height and root."""
        db = self._db
        with (
            self._errors(f"state commit of block {update.number} failed"),
            db.transaction(),
            db.cursor() as cur,
        ):
            stored = cur.execute(self._sql["lock_meta"]).fetchone()
            # Another process writing the same schema: refuse rather than interleave blocks.
            if stored is None or stored[0] != update.number:
                raise StorageError(
                    f"commit of block {update.number}: schema {self.schema} is at height "
                    f"{None if stored is None else stored[0]}; is another writer using it?"
                )
            if update.writes:
                with cur.copy(_COPY_WRITES) as copy:
                    copy.set_types(_WRITE_TYPES)
                    for seq, w in enumerate(update.writes):
                        copy.write_row((seq, w.namespace, w.key, w.value, *w.version, w.tx_id))
                for name in _APPLY:
                    cur.execute(self._sql[name])
            if update.txs:
                with cur.copy(_COPY_TXS) as copy:
                    copy.set_types(_TX_TYPES)
                    for seq, t in enumerate(update.txs):
                        copy.write_row((seq, t.tx_id, t.block, t.index, t.code))
                cur.execute(self._sql["apply_txs"])
            cur.execute(self._sql["set_meta"], (update.number + 1, root))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _has_nul(*texts: str) -> bool:
    return any("\0" in t for t in texts)


def _check_text(update: BlockUpdate) -> None:
    texts = [t for w in update.writes for t in (w.namespace, w.key, w.tx_id)]
    texts += [t.tx_id for t in update.txs]
    bad = next((t for t in texts if "\0" in t), None)
    if bad is not None:
        raise InvalidInput(f"PostgreSQL text cannot hold U+0000: {bad!r} in block {update.number}")
