"""The embedded resource store: SQLite, one connection guarded by a lock, WAL.

Tables: ``versions`` (every version, encrypted: wrapped data key, nonce, ciphertext),
``heads`` (latest version per resource), ``search_index`` (plaintext search values of the latest
versions — inside the organisation's own database, see docs/fhir.md) and ``patient_keys`` (each
patient's key wrapped by the master key; NULL once erased). ``secure_delete`` is on and erasure
checkpoints the WAL, so a destroyed key does not linger in free pages or the log.

Not for: validation, versioning rules or FHIR semantics (:mod:`careledger.fhir.service`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from careledger.errors import StorageError
from careledger.fhir.base import Change, ChangedVersion, Head, StoredVersion
from careledger.fhir.errors import ResourceGone, ResourceNotFound, VersionConflict
from careledger.fhir.query import SearchQuery
from careledger.fhir.store.common import (
    ChangeKey,
    ChangePage,
    change_page,
    changes_sql,
    clause_sql,
    history_filter,
    iter_changes,
    microseconds,
    not_a_deletion,
    readable_head,
)
from careledger.fhir.store.envelope import (
    PatientKeyWrapper,
    Sealed,
    new_patient_key,
    seal,
    slot_of,
    unseal,
)
from careledger.sqlite_files import open_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patient_keys (
    patient TEXT PRIMARY KEY, master_key_id TEXT NOT NULL, wrapped BLOB, erased_at TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    rtype TEXT NOT NULL, rid TEXT NOT NULL, version INTEGER NOT NULL,
    last_updated TEXT NOT NULL, updated_us INTEGER NOT NULL, patient TEXT NOT NULL,
    content_hash TEXT, wrapped_key BLOB, nonce BLOB, ciphertext BLOB,
    PRIMARY KEY (rtype, rid, version)
);
CREATE INDEX IF NOT EXISTS versions_by_time ON versions (rtype, updated_us);
CREATE INDEX IF NOT EXISTS versions_by_change ON versions (updated_us, rtype, rid, version);
CREATE TABLE IF NOT EXISTS heads (
    rtype TEXT NOT NULL, rid TEXT NOT NULL, version INTEGER NOT NULL,
    deleted INTEGER NOT NULL, erased INTEGER NOT NULL DEFAULT 0,
    updated_us INTEGER NOT NULL, patient TEXT NOT NULL,
    PRIMARY KEY (rtype, rid)
);
CREATE INDEX IF NOT EXISTS heads_by_time ON heads (rtype, updated_us, rid);
CREATE INDEX IF NOT EXISTS heads_by_patient ON heads (patient);
CREATE TABLE IF NOT EXISTS search_index (
    rtype TEXT NOT NULL, rid TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT NOT NULL, value TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS search_by_value ON search_index (rtype, param, value, system);
CREATE INDEX IF NOT EXISTS search_by_date ON search_index (rtype, param, low);
CREATE INDEX IF NOT EXISTS search_by_resource ON search_index (rtype, rid);
"""

_VERSION_COLUMNS = (
    "v.rtype, v.rid, v.version, v.last_updated, v.patient, v.content_hash,"
    " v.wrapped_key, v.nonce, v.ciphertext"
)


class SQLiteResourceStore:
    """A :class:`~careledger.fhir.base.ResourceStore` in one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, master_key: PatientKeyWrapper) -> None:
        self._master = master_key
        self._lock = threading.RLock()
        self._keys: dict[str, bytes] = {}
        self._new_keys: dict[str, bytes] = {}
        self._db = open_wal(path, _SCHEMA, "the FHIR store", pragmas=("secure_delete=ON",))

    # --- writing ------------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._new_keys.clear()
                raise
            self._db.execute("COMMIT")
            # Keys made in this transaction are cached only once their rows are committed: a
            # key cached from a rolled-back transaction would encrypt data under a key that is
            # not stored, unreadable after a restart.
            self._keys.update(self._new_keys)
            self._new_keys.clear()

    def commit(self, changes: Sequence[Change]) -> list[str | None]:
        hashes: list[str | None] = []
        index: list[tuple[str, str, str, str, str, int, int]] = []
        try:
            with self._writing() as db:
                for change in changes:
                    hashes.append(self._write(db, change, index))
                # One statement for the whole request's index rows (``_write`` inserts what is
                # pending before it deletes a resource's old rows, so the order holds).
                _insert_index(db, index)
        except sqlite3.Error as exc:
            raise StorageError(f"FHIR store write failed: {exc}") from exc
        return hashes

    def _write(
        self,
        db: sqlite3.Connection,
        change: Change,
        index: list[tuple[str, str, str, str, str, int, int]],
    ) -> str | None:
        row = db.execute(
            "SELECT version, erased FROM heads WHERE rtype = ? AND rid = ?",
            (change.resource_type, change.id),
        ).fetchone()
        ref = f"{change.resource_type}/{change.id}"
        if row is not None and row[1]:
            raise ResourceGone(f"{ref} was erased", erased=True)
        if (row[0] if row else 0) != change.previous:
            raise VersionConflict(
                f"{ref} is at version {row[0] if row else 0}, not {change.previous}"
            )
        patient = change.patient or ""
        updated_us = microseconds(change.last_updated)
        content_hash: str | None = None
        sealed = Sealed(b"", b"", b"")
        if change.content is not None:
            key = self._patient_key(db, patient, create=True)
            content_hash = hashlib.sha256(change.content).hexdigest()
            sealed = seal(
                key, change.content, slot_of(change.resource_type, change.id, change.version)
            )
        deleted = change.content is None
        db.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                change.resource_type, change.id, change.version, change.last_updated, updated_us,
                patient, content_hash, None if deleted else sealed.wrapped_key,
                None if deleted else sealed.nonce, None if deleted else sealed.ciphertext,
            ),
        )  # fmt: skip
        db.execute(
            "INSERT INTO heads (rtype, rid, version, deleted, updated_us, patient)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rtype, rid) DO UPDATE SET"
            " version = excluded.version, deleted = excluded.deleted,"
            " updated_us = excluded.updated_us, patient = excluded.patient",
            (change.resource_type, change.id, change.version, deleted, updated_us, patient),
        )
        if row is not None:
            _insert_index(db, index)
            db.execute(
                "DELETE FROM search_index WHERE rtype = ? AND rid = ?",
                (change.resource_type, change.id),
            )
        if not deleted and change.index:
            rtype, rid = change.resource_type, change.id
            index.extend(
                (rtype, rid, e.param, e.system, e.value, e.low, e.high) for e in change.index
            )
        return content_hash

    def _patient_key(self, db: sqlite3.Connection, patient: str, *, create: bool) -> bytes:
        """The unwrapped key of ``patient``; raises ResourceGone(erased) if it was destroyed."""
        key = self._keys.get(patient) or self._new_keys.get(patient)
        if key is not None:
            return key
        row = db.execute(
            "SELECT wrapped FROM patient_keys WHERE patient = ?", (patient,)
        ).fetchone()
        if row is not None and row[0] is None:
            raise ResourceGone(f"the data of {patient} was erased", erased=True)
        if row is not None:
            key = self._master.unwrap_patient_key(patient, row[0])
        elif create:
            key = new_patient_key()
            db.execute(
                "INSERT INTO patient_keys VALUES (?, ?, ?, NULL)",
                (patient, self._master.key_id, self._master.wrap_patient_key(patient, key)),
            )
            self._new_keys[patient] = key
            return key
        else:
            raise StorageError(f"no key for {patient!r}: the store is damaged")
        self._keys[patient] = key
        return key

    def rewrap_patient_keys(self, limit: int) -> int:
        """Re-wrap up to ``limit`` live patient keys onto the current master key (one short
        transaction: the node's writes wait at most for one batch)."""
        current = self._master.key_id
        with self._writing() as db:
            rows = db.execute(
                "SELECT patient, wrapped FROM patient_keys"
                " WHERE wrapped IS NOT NULL AND master_key_id != ? LIMIT ?",
                (current, limit),
            ).fetchall()
            for patient, blob in rows:
                key = self._master.unwrap_patient_key(patient, blob)
                db.execute(
                    "UPDATE patient_keys SET master_key_id = ?, wrapped = ? WHERE patient = ?",
                    (current, self._master.wrap_patient_key(patient, key), patient),
                )
        return len(rows)

    def stale_patient_keys(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM patient_keys"
                " WHERE wrapped IS NOT NULL AND master_key_id != ?",
                (self._master.key_id,),
            ).fetchone()
        return int(row[0])

    def erase_patient(self, patient: str) -> int:
        patient = patient if "/" in patient else f"Patient/{patient}"
        now = datetime.now(UTC).isoformat()
        with self._writing() as db:
            updated = db.execute(
                "UPDATE patient_keys SET wrapped = NULL, erased_at = ? WHERE patient = ?",
                (now, patient),
            ).rowcount
            if not updated:
                db.execute(
                    "INSERT INTO patient_keys VALUES (?, ?, NULL, ?)",
                    (patient, self._master.key_id, now),
                )
            db.execute(
                "DELETE FROM search_index WHERE (rtype, rid) IN"
                " (SELECT rtype, rid FROM heads WHERE patient = ?)",
                (patient,),
            )
            count = db.execute(
                "UPDATE heads SET erased = 1 WHERE patient = ? AND erased = 0", (patient,)
            ).rowcount
            self._keys.pop(patient, None)
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(count)

    # --- reading ------------------------------------------------------------------------------

    def head(self, resource_type: str, resource_id: str) -> Head | None:
        with self._lock:
            row = self._db.execute(
                "SELECT version, deleted, erased FROM heads WHERE rtype = ? AND rid = ?",
                (resource_type, resource_id),
            ).fetchone()
        if row is None:
            return None
        return Head(resource_type, resource_id, row[0], bool(row[1]), bool(row[2]))

    def read(
        self, resource_type: str, resource_id: str, version: int | None = None
    ) -> StoredVersion:
        ref = f"{resource_type}/{resource_id}"
        with self._lock:
            head = readable_head(self.head(resource_type, resource_id), ref)
            row = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions v"
                " WHERE rtype = ? AND rid = ? AND version = ?",
                (resource_type, resource_id, head.version if version is None else version),
            ).fetchone()
            if row is None:
                raise ResourceNotFound(f"{ref} has no version {version}")
            found = self._decrypt(row)
        return not_a_deletion(found, ref, version)

    def read_current(self, references: Sequence[tuple[str, str]]) -> list[StoredVersion]:
        out: list[StoredVersion] = []
        with self._lock:
            for rtype, rid in references:
                row = self._db.execute(
                    f"SELECT {_VERSION_COLUMNS} FROM heads h JOIN versions v"
                    " ON v.rtype = h.rtype AND v.rid = h.rid AND v.version = h.version"
                    " WHERE h.rtype = ? AND h.rid = ? AND h.deleted = 0 AND h.erased = 0",
                    (rtype, rid),
                ).fetchone()
                if row is not None:
                    out.append(self._decrypt(row))
        return out

    def _decrypt(self, row: Any) -> StoredVersion:
        rtype, rid, version, last_updated, patient, content_hash, wrapped, nonce, ct = row
        content = None
        if ct is not None:
            key = self._patient_key(self._db, patient, create=False)
            content = unseal(key, Sealed(wrapped, nonce, ct), slot_of(rtype, rid, version))
        return StoredVersion(
            rtype, rid, version, last_updated, content, content_hash, patient or None
        )

    def history(
        self,
        resource_type: str,
        resource_id: str | None,
        since: int | None,
        count: int,
        offset: int,
    ) -> tuple[list[StoredVersion], int]:
        head = None if resource_id is None else self.head(resource_type, resource_id)
        where, args = history_filter(head, resource_type, resource_id, since, "?")
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM versions v WHERE {where}", args)
            total_count = int(total.fetchone()[0])
            rows = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions v WHERE {where}"
                " ORDER BY v.updated_us DESC, v.version DESC LIMIT ? OFFSET ?",
                [*args, count, offset],
            ).fetchall()
            return [self._decrypt(r) for r in rows], total_count

    def changes_since(self, since_us: int, *, batch: int = 500) -> Iterator[ChangedVersion]:
        def read_page(after: ChangeKey | None) -> ChangePage:
            query, args = changes_sql(_VERSION_COLUMNS, since_us, after, batch, "?")
            with self._lock:
                return change_page(self._db.execute(query, args).fetchall(), self._decrypt)

        return iter_changes(read_page, batch)

    def search(self, query: SearchQuery) -> tuple[list[StoredVersion], int]:
        where = ["h.rtype = ?", "h.deleted = 0", "h.erased = 0"]
        args: list[Any] = [query.resource_type]
        for clause in query.clauses:
            sql, clause_args = clause_sql(clause)
            where.append(sql)
            args.extend(clause_args)
        condition = " AND ".join(where)
        with self._lock:
            total = int(
                self._db.execute(
                    f"SELECT COUNT(*) FROM heads h WHERE {condition}", args
                ).fetchone()[0]
            )
            if query.count == 0:
                return [], total
            rows = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM heads h JOIN versions v"
                " ON v.rtype = h.rtype AND v.rid = h.rid AND v.version = h.version"
                f" WHERE {condition} ORDER BY h.updated_us, h.rid LIMIT ? OFFSET ?",
                [*args, query.count, query.offset],
            ).fetchall()
            return [self._decrypt(r) for r in rows], total

    def raw_connection(self) -> sqlite3.Connection:
        """The underlying connection (for tests that inspect what is stored)."""
        return self._db

    def close(self) -> None:
        with self._lock:
            self._keys.clear()
            self._db.close()


def _insert_index(
    db: sqlite3.Connection, rows: list[tuple[str, str, str, str, str, int, int]]
) -> None:
    """Insert the pending search index rows and empty the list."""
    if rows:
        db.executemany("INSERT INTO search_index VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        rows.clear()
