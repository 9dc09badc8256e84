"""The PostgreSQL resource store: the same tables and semantics as :mod:`.sqlite`, one schema
per store, for organisations that run a database server.

Tables (in the store's schema): ``versions`` (every version, encrypted: wrapped data key, nonce,
ciphertext as ``bytea``), ``heads`` (latest version per resource), ``search_index`` (plaintext
search values of the latest versions, see docs/fhir.md) and ``patient_keys`` (each patient's key
wrapped by the master key; NULL once erased). Identifiers and index values are ``text COLLATE
"C"``: code-point order, as in SQLite and Python, for string prefix search and result order. The
database must use UTF8. PostgreSQL ``text`` cannot hold U+0000, so NUL characters are removed
from index values and from searched values alike (``"a\\0b"`` is found by ``ab``); the stored
resource itself is ciphertext and keeps them.

One connection, used under a lock, in autocommit mode for reads; ``commit`` and
``erase_patient`` are explicit transactions. Several store instances (processes) may share one
schema: a commit locks the heads it checks (``SELECT ... FOR UPDATE``, in a fixed order) and the
patient keys it encrypts under (``FOR SHARE``), so a concurrent update, a concurrent create of
the same id, or a concurrent erasure of the patient makes it fail with ``VersionConflict`` or
``ResourceGone`` instead of writing over it. Not a pool and no reconnect: after a lost
connection every call raises ``StorageError``; reopen the store.

Erasure nulls the wrapped key and then rewrites ``patient_keys`` (``VACUUM FULL``, a small table)
so the old row version is not left in the table's file. Unlike SQLite's ``secure_delete``, the
key still exists in WAL segments until they are recycled, and in WAL archives and base backups;
deleted index rows stay in dead tuples until vacuum reuses their space (docs/fhir.md).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from careledger.errors import InvalidInput, StorageError
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
from careledger.fhir.store.envelope import MasterKey, Sealed, new_patient_key, seal, slot_of, unseal

_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.patient_keys (
    patient text COLLATE "C" PRIMARY KEY, master_key_id text NOT NULL, wrapped bytea,
    erased_at text
);
CREATE TABLE IF NOT EXISTS {s}.versions (
    rtype text COLLATE "C" NOT NULL, rid text COLLATE "C" NOT NULL, version integer NOT NULL,
    last_updated text NOT NULL, updated_us bigint NOT NULL, patient text COLLATE "C" NOT NULL,
    content_hash text, wrapped_key bytea, nonce bytea, ciphertext bytea,
    PRIMARY KEY (rtype, rid, version)
);
CREATE INDEX IF NOT EXISTS versions_by_time ON {s}.versions (rtype, updated_us);
CREATE INDEX IF NOT EXISTS versions_by_change ON {s}.versions (updated_us, rtype, rid, version);
CREATE INDEX IF NOT EXISTS versions_by_patient ON {s}.versions (patient);
CREATE TABLE IF NOT EXISTS {s}.heads (
    rtype text COLLATE "C" NOT NULL, rid text COLLATE "C" NOT NULL, version integer NOT NULL,
    deleted boolean NOT NULL, erased boolean NOT NULL DEFAULT false,
    updated_us bigint NOT NULL, patient text COLLATE "C" NOT NULL,
    PRIMARY KEY (rtype, rid)
);
CREATE INDEX IF NOT EXISTS heads_by_time ON {s}.heads (rtype, updated_us, rid);
CREATE INDEX IF NOT EXISTS heads_by_patient ON {s}.heads (patient);
CREATE TABLE IF NOT EXISTS {s}.search_index (
    rtype text COLLATE "C" NOT NULL, rid text COLLATE "C" NOT NULL,
    param text COLLATE "C" NOT NULL, system text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL, low bigint NOT NULL, high bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS search_by_value ON {s}.search_index (rtype, param, value, system);
CREATE INDEX IF NOT EXISTS search_by_date ON {s}.search_index (rtype, param, low);
CREATE INDEX IF NOT EXISTS search_by_resource ON {s}.search_index (rtype, rid);
"""

_VERSION_COLUMNS = (
    "v.rtype, v.rid, v.version, v.last_updated, v.patient, v.content_hash,"
    " v.wrapped_key, v.nonce, v.ciphertext"
)
_REFS = "(SELECT * FROM unnest(%s::text[], %s::text[]))"  # (type, id) pairs from two arrays
_COPY_INDEX = "COPY search_index (rtype, rid, param, system, value, low, high) FROM STDIN"
# Lost races between concurrent writers: the loser's transaction is rolled back as a whole.
_CONFLICTS = (pg_errors.UniqueViolation, pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
_ERASE_ATTEMPTS = 3


def _text(value: str) -> str:
    """``value`` as PostgreSQL ``text`` can hold it (no U+0000)."""
    return value.replace("\x00", "")


class PostgresResourceStore:
    """A :class:`~careledger.fhir.base.ResourceStore` in schema ``schema`` of a PostgreSQL
    database (created if missing)."""

    def __init__(self, dsn: str, master_key: MasterKey, schema: str = "fhir") -> None:
        if not schema or len(schema.encode()) > _MAX_IDENTIFIER_BYTES or "\0" in schema:
            raise InvalidInput(
                f"schema name must be 1 to {_MAX_IDENTIFIER_BYTES} bytes: {schema!r}"
            )
        self.schema = schema
        self._master = master_key
        self._lock = threading.RLock()
        self._keys: dict[str, bytes] = {}
        try:
            self._db = psycopg.connect(dsn, autocommit=True, application_name="careledger-fhir")
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to the FHIR PostgreSQL database: {exc}") from exc
        try:
            self._create_schema()
        except BaseException:
            self._db.close()
            raise

    def _create_schema(self) -> None:
        with self._errors("cannot create the FHIR schema"):
            encoding = self._db.execute("SHOW server_encoding").fetchone()
            if encoding is None or encoding[0] != "UTF8":
                raise StorageError(
                    f"the FHIR database must use the UTF8 encoding, not {encoding and encoding[0]}"
                )
            with self._db.transaction():
                # Stores opening the same schema at once would race on CREATE ... IF NOT EXISTS.
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
                self._db.execute(sql.SQL(_SCHEMA).format(s=sql.Identifier(self.schema)))
            # Unqualified names (here and in the shared search SQL) resolve to the schema only.
            self._db.execute(
                "SELECT set_config('search_path', %s, false)",
                (sql.Identifier(self.schema).as_string(self._db),),
            )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StorageError(f"{doing} (schema {self.schema}): {exc}") from exc

    # --- writing ------------------------------------------------------------------------------

    def commit(self, changes: Sequence[Change]) -> list[str | None]:
        with self._lock, self._errors("FHIR store write failed"):
            new_keys: dict[str, bytes] = {}
            try:
                with self._db.transaction():
                    hashes = self._write_all(changes, new_keys)
            except _CONFLICTS as exc:
                raise VersionConflict(
                    f"a concurrent write to the same resources won; nothing was written ({exc})"
                ) from exc
            self._keys.update(new_keys)  # only keys whose rows committed
            return hashes

    def _write_all(self, changes: Sequence[Change], new_keys: dict[str, bytes]) -> list[str | None]:
        db = self._db
        # Patient keys first, heads second, in a fixed order: erase_patient locks in the same
        # order, so a writer and an eraser queue behind each other instead of deadlocking.
        patients = sorted({c.patient or "" for c in changes if c.content is not None})
        wrapped: dict[str, bytes | None] = {}
        if patients:
            wrapped = {
                row[0]: row[1]
                for row in db.execute(
                    "SELECT patient, wrapped FROM patient_keys WHERE patient = ANY(%s)"
                    " ORDER BY patient FOR SHARE",
                    (patients,),
                )
            }
        refs = sorted({(c.resource_type, c.id) for c in changes})
        heads: dict[tuple[str, str], tuple[int, bool]] = {
            (row[0], row[1]): (row[2], row[3])
            for row in db.execute(
                "SELECT rtype, rid, version, erased FROM heads"
                f" WHERE (rtype, rid) IN {_REFS} ORDER BY rtype, rid FOR UPDATE",
                ([r[0] for r in refs], [r[1] for r in refs]),
            )
        }
        existed = [ref for ref in refs if ref in heads]

        version_rows: list[tuple[Any, ...]] = []
        head_rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        index: dict[tuple[str, str], Change] = {}
        for change in changes:
            ref = (change.resource_type, change.id)
            name = f"{change.resource_type}/{change.id}"
            current = heads.get(ref)
            if current is not None and current[1]:
                raise ResourceGone(f"{name} was erased", erased=True)
            at = current[0] if current else 0
            if at != change.previous:
                raise VersionConflict(f"{name} is at version {at}, not {change.previous}")
            patient = change.patient or ""
            updated_us = microseconds(change.last_updated)
            content_hash: str | None = None
            sealed: Sealed | None = None
            if change.content is not None:
                key = self._key_for_write(patient, wrapped, new_keys)
                content_hash = hashlib.sha256(change.content).hexdigest()
                sealed = seal(
                    key, change.content, slot_of(change.resource_type, change.id, change.version)
                )
            version_rows.append(
                (
                    change.resource_type, change.id, change.version, change.last_updated,
                    updated_us, patient, content_hash,
                    sealed and sealed.wrapped_key, sealed and sealed.nonce,
                    sealed and sealed.ciphertext,
                )
            )  # fmt: skip
            heads[ref] = (change.version, False)
            head_rows[ref] = (*ref, change.version, sealed is None, updated_us, patient)
            index[ref] = change

        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO versions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                version_rows,
            )
            cur.executemany(
                "INSERT INTO heads (rtype, rid, version, deleted, updated_us, patient)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (rtype, rid) DO UPDATE SET"
                " version = excluded.version, deleted = excluded.deleted,"
                " updated_us = excluded.updated_us, patient = excluded.patient",
                list(head_rows.values()),
            )
            if existed:
                cur.execute(
                    f"DELETE FROM search_index WHERE (rtype, rid) IN {_REFS}",
                    ([r[0] for r in existed], [r[1] for r in existed]),
                )
            entries = [
                (c.resource_type, c.id, e.param, _text(e.system), _text(e.value), e.low, e.high)
                for c in index.values()
                if c.content is not None
                for e in c.index
            ]
            if entries:
                with cur.copy(_COPY_INDEX) as copy:
                    for entry in entries:
                        copy.write_row(entry)
        return [row[6] for row in version_rows]

    def _key_for_write(
        self, patient: str, wrapped: dict[str, bytes | None], new_keys: dict[str, bytes]
    ) -> bytes:
        """The key to encrypt ``patient``'s new version under, made (uncommitted) if missing."""
        if patient in new_keys:
            return new_keys[patient]
        if patient not in wrapped:
            key = new_patient_key()
            inserted = self._db.execute(
                "INSERT INTO patient_keys VALUES (%s, %s, %s, NULL)"
                " ON CONFLICT (patient) DO NOTHING",
                (patient, self._master.key_id, self._master.wrap_patient_key(patient, key)),
            ).rowcount
            if inserted:
                new_keys[patient] = key
                return key
            # Another store created (or erased) this patient's key since our first look.
            row = self._db.execute(
                "SELECT wrapped FROM patient_keys WHERE patient = %s FOR SHARE", (patient,)
            ).fetchone()
            wrapped[patient] = None if row is None else row[0]
        blob = wrapped[patient]
        if blob is None:
            raise ResourceGone(f"the data of {patient} was erased", erased=True)
        key = self._keys.get(patient) or self._master.unwrap_patient_key(patient, blob)
        new_keys[patient] = key
        return key

    def erase_patient(self, patient: str) -> int:
        patient = patient if "/" in patient else f"Patient/{patient}"
        now = datetime.now(UTC).isoformat()
        with self._lock, self._errors("FHIR erasure failed"):
            for attempt in range(_ERASE_ATTEMPTS):
                try:
                    with self._db.transaction():
                        count = self._erase(patient, now)
                    break
                except _CONFLICTS:
                    if attempt == _ERASE_ATTEMPTS - 1:
                        raise
            self._keys.pop(patient, None)
            # Rewrite the (small) key table so the old row version with the wrapped key is not
            # left behind as a dead tuple in its file; cannot run inside a transaction.
            self._db.execute("VACUUM (FULL) patient_keys")
        return count

    def _erase(self, patient: str, now: str) -> int:
        db = self._db
        db.execute(
            "INSERT INTO patient_keys VALUES (%s, %s, NULL, %s) ON CONFLICT (patient)"
            " DO UPDATE SET wrapped = NULL, erased_at = excluded.erased_at",
            (patient, self._master.key_id, now),
        )
        db.execute(
            "DELETE FROM search_index WHERE (rtype, rid) IN"
            " (SELECT rtype, rid FROM heads WHERE patient = %s)",
            (patient,),
        )
        return db.execute(
            "UPDATE heads SET erased = true WHERE patient = %s AND NOT erased", (patient,)
        ).rowcount

    # --- reading ------------------------------------------------------------------------------

    def head(self, resource_type: str, resource_id: str) -> Head | None:
        with self._lock, self._errors("FHIR store read failed"):
            row = self._db.execute(
                "SELECT version, deleted, erased FROM heads WHERE rtype = %s AND rid = %s",
                (resource_type, resource_id),
            ).fetchone()
        if row is None:
            return None
        return Head(resource_type, resource_id, row[0], bool(row[1]), bool(row[2]))

    def read(
        self, resource_type: str, resource_id: str, version: int | None = None
    ) -> StoredVersion:
        ref = f"{resource_type}/{resource_id}"
        with self._lock, self._errors("FHIR store read failed"):
            head = readable_head(self.head(resource_type, resource_id), ref)
            row = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions v"
                " WHERE rtype = %s AND rid = %s AND version = %s",
                (resource_type, resource_id, head.version if version is None else version),
            ).fetchone()
            if row is None:
                raise ResourceNotFound(f"{ref} has no version {version}")
            found = self._decrypt(row)
        return not_a_deletion(found, ref, version)

    def read_current(self, references: Sequence[tuple[str, str]]) -> list[StoredVersion]:
        if not references:
            return []
        with self._lock, self._errors("FHIR store read failed"):
            rows = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM heads h JOIN versions v"
                " ON v.rtype = h.rtype AND v.rid = h.rid AND v.version = h.version"
                f" WHERE (h.rtype, h.rid) IN {_REFS} AND NOT h.deleted AND NOT h.erased",
                ([r[0] for r in references], [r[1] for r in references]),
            ).fetchall()
            found = {(r[0], r[1]): self._decrypt(r) for r in rows}
        return [found[ref] for ref in references if ref in found]

    def _decrypt(self, row: Any) -> StoredVersion:
        rtype, rid, version, last_updated, patient, content_hash, wrapped, nonce, ct = row
        content = None
        if ct is not None:
            key = self._read_key(patient)
            content = unseal(key, Sealed(wrapped, nonce, ct), slot_of(rtype, rid, version))
        return StoredVersion(
            rtype, rid, version, last_updated, content, content_hash, patient or None
        )

    def _read_key(self, patient: str) -> bytes:
        key = self._keys.get(patient)
        if key is not None:
            return key
        row = self._db.execute(
            "SELECT wrapped FROM patient_keys WHERE patient = %s", (patient,)
        ).fetchone()
        if row is None:
            raise StorageError(f"no key for {patient!r}: the store is damaged")
        if row[0] is None:
            raise ResourceGone(f"the data of {patient} was erased", erased=True)
        key = self._master.unwrap_patient_key(patient, row[0])
        self._keys[patient] = key
        return key

    def history(
        self,
        resource_type: str,
        resource_id: str | None,
        since: int | None,
        count: int,
        offset: int,
    ) -> tuple[list[StoredVersion], int]:
        head = None if resource_id is None else self.head(resource_type, resource_id)
        where, args = history_filter(head, resource_type, resource_id, since, "%s")
        with self._lock, self._errors("FHIR store read failed"):
            total = self._db.execute(f"SELECT COUNT(*) FROM versions v WHERE {where}", args)
            total_row = total.fetchone()
            rows = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions v WHERE {where}"
                " ORDER BY v.updated_us DESC, v.version DESC LIMIT %s OFFSET %s",
                [*args, count, offset],
            ).fetchall()
            return [self._decrypt(r) for r in rows], int(total_row[0]) if total_row else 0

    def changes_since(self, since_us: int, *, batch: int = 500) -> Iterator[ChangedVersion]:
        def read_page(after: ChangeKey | None) -> ChangePage:
            query, args = changes_sql(_VERSION_COLUMNS, since_us, after, batch, "%s")
            with self._lock, self._errors("FHIR store read failed"):
                return change_page(self._db.execute(query, args).fetchall(), self._decrypt)

        return iter_changes(read_page, batch)

    def search(self, query: SearchQuery) -> tuple[list[StoredVersion], int]:
        where = ["h.rtype = %s", "NOT h.deleted", "NOT h.erased"]
        args: list[Any] = [query.resource_type]
        for clause in query.clauses:
            clause_where, clause_args = clause_sql(clause, "%s")
            where.append(clause_where)
            args.extend(_text(a) if isinstance(a, str) else a for a in clause_args)
        condition = " AND ".join(where)
        with self._lock, self._errors("FHIR search failed"):
            total_row = self._db.execute(
                f"SELECT COUNT(*) FROM heads h WHERE {condition}", args
            ).fetchone()
            total = int(total_row[0]) if total_row else 0
            if query.count == 0:
                return [], total
            rows = self._db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM heads h JOIN versions v"
                " ON v.rtype = h.rtype AND v.rid = h.rid AND v.version = h.version"
                f" WHERE {condition} ORDER BY h.updated_us, h.rid LIMIT %s OFFSET %s",
                [*args, query.count, query.offset],
            ).fetchall()
            return [self._decrypt(r) for r in rows], total

    def raw_connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The underlying connection, ``search_path`` set to the schema (for tests that inspect
        what is stored). Do not use it from another thread while the store is in use."""
        return self._db

    def close(self) -> None:
        with self._lock:
            self._keys.clear()
            self._db.close()
