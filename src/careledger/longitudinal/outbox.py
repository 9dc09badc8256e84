"""The holder's durable outbox: ledger work written to its own SQLite file before it is submitted.

A FHIR write commits in the organisation's store first; the record locator entries and audit
records it causes must reach the ledger even if the process dies before the ledger transaction
commits. :class:`LedgerOutbox` keeps them in a table of a local SQLite file (a sibling of the
FHIR store, or ``":memory:"`` for tests and demos), written synchronously by the listener and
the access policy — so before the FHIR request is answered. :class:`OutboxFlusher` submits them
in the background and deletes each row once its transaction has committed; on start it submits
whatever a previous run left.

The store commits before the listener writes here, so a crash between the two — or a listener
that fails (the write stands) — would leave a stored version the locator never hears of. The
file therefore keeps a *cursor*: the highest store ``updated_us`` (UTC microseconds of the
version's ``lastUpdated``) whose events were written here, advanced in the same local
transaction as the ``register`` rows, never back (:meth:`LedgerOutbox.add`). On start,
:meth:`~careledger.longitudinal.ledger.ProviderLedger.reconcile` replays the store's versions from a
margin (5 minutes) before the cursor through the listener
(:meth:`~careledger.fhir.service.FhirService.replay_changes`); what was already registered is
registered again, which the contract ignores (below).

Resubmission is safe because every row has an identity the contracts recognise:

* ``register`` — one locator entry; the contract keeps one entry per (handle, holder, ref) and
  skips a version at or below the one indexed;
* ``erase`` — ``locator.erase`` does nothing when the holder's erasure is already recorded;
* ``audit`` — one audit record with a random ``id`` fixed when the row is written; the
  contract skips an id the holder already recorded;
* ``note`` — one access decision not yet grouped: :meth:`LedgerOutbox.seal_notes` turns pending
  notes into ``audit`` rows (same patient, requester, purpose, outcome and reason → one record)
  in one local transaction, so a record's content and id are fixed before its first submission.

The same file keeps the patient directory (local ``Patient/<id>`` ↔ DID and handle), so
enrolments survive a restart. ``synchronous=NORMAL`` in WAL mode: a committed row survives a
crash of the process (not necessarily of the machine — the FHIR store has the same setting).

Not for: deciding what to index or audit (:mod:`careledger.longitudinal.ledger`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from careledger.aio import stop_task
from careledger.contracts import audit as audit_contract
from careledger.contracts import record_locator as locator
from careledger.errors import ContractError, InvalidInput, StorageError, UnknownContract
from careledger.sqlite_files import open_wal

log = logging.getLogger("careledger.longitudinal.outbox")

Kind = Literal["register", "erase", "audit", "note"]

STORE_CURSOR = "store_cursor_us"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    rejected INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ledger_outbox_pending ON ledger_outbox (rejected, seq);
CREATE TABLE IF NOT EXISTS outbox_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS patient_links (
    patient TEXT PRIMARY KEY, did TEXT NOT NULL, handle TEXT NOT NULL,
    erased INTEGER NOT NULL DEFAULT 0
);
"""

#: The fields of a note that decide which audit record it joins.
NOTE_KEY = (
    "handle",
    "action",
    "reason",
    "requester",
    "practitioner",
    "purpose",
    "break_glass_reason",
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    kind: Kind
    payload: dict[str, Any]
    attempts: int = 0


def new_record_id() -> str:
    """An audit record's idempotency key (random: two identical decisions are two records)."""
    return secrets.token_hex(32)


class LedgerOutbox:
    """Pending ledger work and the patient directory in one local SQLite file. Thread-safe."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = open_wal(self.path, _SCHEMA, "the ledger outbox")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"ledger outbox write failed: {exc}") from exc

    # -- queueing ------------------------------------------------------------------------------
    def add(
        self, items: Sequence[tuple[Kind, dict[str, Any]]], *, cursor: int | None = None
    ) -> None:
        """Queue ``items`` (kind, payload) in one local transaction, in order; with ``cursor``
        (a store ``updated_us`` whose events these items cover) the same transaction advances
        :meth:`cursor` to it — never back."""
        if not items and cursor is None:
            return
        now = int(time.time() * 1000)
        with self._writing() as db:
            db.executemany(
                "INSERT INTO ledger_outbox (kind, payload, created_ms) VALUES (?, ?, ?)",
                [(kind, msgspec.json.encode(payload), now) for kind, payload in items],
            )
            if cursor is not None:
                db.execute(
                    "INSERT INTO outbox_meta VALUES (?, ?) ON CONFLICT (name)"
                    " DO UPDATE SET value = max(value, excluded.value)",
                    (STORE_CURSOR, cursor),
                )

    def cursor(self) -> int:
        """The highest FHIR store ``updated_us`` whose events were written here (0: none)."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM outbox_meta WHERE name = ?", (STORE_CURSOR,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def seal_notes(self) -> int:
        """Group pending notes into ``audit`` rows (ids fixed now); returns records made."""
        with self._writing() as db:
            rows = db.execute(
                "SELECT seq, payload FROM ledger_outbox WHERE kind = 'note' AND rejected = 0"
                " ORDER BY seq"
            ).fetchall()
            if not rows:
                return 0
            records = group_notes([msgspec.json.decode(payload) for _seq, payload in rows])
            now = int(time.time() * 1000)
            db.executemany(
                "INSERT INTO ledger_outbox (kind, payload, created_ms) VALUES ('audit', ?, ?)",
                [(msgspec.json.encode(r), now) for r in records],
            )
            db.executemany("DELETE FROM ledger_outbox WHERE seq = ?", [(s,) for s, _ in rows])
            return len(records)

    # -- draining ------------------------------------------------------------------------------
    def pending(self, after: int = 0, limit: int = 2000) -> list[OutboxRow]:
        """Rows to submit (not notes, not rejected) with ``seq > after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, payload, attempts FROM ledger_outbox"
                " WHERE rejected = 0 AND kind != 'note' AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [OutboxRow(s, k, msgspec.json.decode(p), a) for s, k, p, a in rows]

    def done(self, seqs: Sequence[int]) -> None:
        """The rows' transaction committed: forget them."""
        with self._writing() as db:
            db.executemany("DELETE FROM ledger_outbox WHERE seq = ?", [(s,) for s in seqs])

    def failed(self, seqs: Sequence[int], error: BaseException, *, rejected: bool) -> None:
        """Record a failed attempt; ``rejected`` rows (refused by the contract) are kept for an
        operator but never submitted again."""
        message = f"{type(error).__name__}: {error}"[:500]
        with self._writing() as db:
            db.executemany(
                "UPDATE ledger_outbox SET attempts = attempts + 1, last_error = ?, rejected = ?"
                " WHERE seq = ?",
                [(message, int(rejected), s) for s in seqs],
            )

    def counts(self) -> dict[str, int]:
        """Pending rows by kind, and ``rejected`` (for health checks and tests)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT CASE WHEN rejected THEN 'rejected' ELSE kind END, COUNT(*)"
                " FROM ledger_outbox GROUP BY 1"
            ).fetchall()
        return {str(k): int(n) for k, n in rows}

    # -- patient directory ---------------------------------------------------------------------
    def save_link(self, patient: str, did: str, handle: str, erased: bool) -> None:
        with self._writing() as db:
            db.execute(
                "INSERT INTO patient_links VALUES (?, ?, ?, ?) ON CONFLICT (patient) DO UPDATE"
                " SET did = excluded.did, handle = excluded.handle, erased = excluded.erased",
                (patient, did, handle, int(erased)),
            )

    def links(self) -> list[tuple[str, str, str, bool]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT patient, did, handle, erased FROM patient_links ORDER BY patient"
            ).fetchall()
        return [(p, d, h, bool(e)) for p, d, h, e in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def group_notes(notes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit records (``AuditInput`` fields plus a new ``id``) for access-decision notes: one per
    (handle, action, reason, requester, practitioner, purpose, break-glass reason), listing the
    disclosed refs in chunks of :data:`~careledger.contracts.audit.MAX_REFS`."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for note in notes:
        key = tuple(note.get(k) for k in NOTE_KEY)
        group = groups.setdefault(key, {"types": set(), "refs": [], "count": 0})
        if note.get("resource_type"):
            group["types"].add(note["resource_type"])
        if note.get("ref") and note["action"] == "disclose":
            group["refs"].append(note["ref"])
        group["count"] += int(note.get("count", 1))
    records: list[dict[str, Any]] = []
    for key, group in groups.items():
        handle, action, reason, requester, practitioner, purpose, bg = key
        refs: list[str] = group["refs"] or [""]
        for start in range(0, len(refs), audit_contract.MAX_REFS):
            chunk = [r for r in refs[start : start + audit_contract.MAX_REFS] if r]
            records.append(
                {
                    "handle": handle,
                    "action": action,
                    "reason": reason,
                    "requester": requester,
                    "practitioner": practitioner,
                    "purpose": purpose,
                    "resource_types": sorted(group["types"]),
                    "refs": chunk,
                    "count": len(chunk) or group["count"],
                    "break_glass": bg is not None,
                    "break_glass_reason": bg,
                    "id": new_record_id(),
                }
            )
    return records


Submit = Callable[[str, str, list[Any]], Awaitable[Any]]

_BATCH = {"register": locator.MAX_ENTRIES, "audit": audit_contract.MAX_RECORDS, "erase": 1}


def _batches(rows: Sequence[OutboxRow]) -> Iterator[list[OutboxRow]]:
    """Consecutive rows of one kind, at most one transaction's worth each (order is kept)."""
    batch: list[OutboxRow] = []
    for row in rows:
        if batch and (row.kind != batch[0].kind or len(batch) >= _BATCH[row.kind]):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def _call(batch: Sequence[OutboxRow]) -> tuple[str, str, list[Any]]:
    kind = batch[0].kind
    if kind == "register":
        return locator.NAMESPACE, "register", [[r.payload for r in batch]]
    if kind == "erase":
        return locator.NAMESPACE, "erase", [batch[0].payload["handle"]]
    return audit_contract.NAMESPACE, "record", [[r.payload for r in batch]]


def is_refusal(error: BaseException) -> bool:
    """A contract refusal that a resubmission would meet again (not: contract not approved
    yet, conflicts, ordering or endorsement trouble — those are retried)."""
    return isinstance(error, ContractError | InvalidInput) and not isinstance(
        error, UnknownContract
    )


class OutboxFlusher:
    """Submits the outbox's rows on the network's event loop, in order, and deletes them once
    committed. :meth:`start` (on the loop) runs it in the background: it wakes when rows are
    added (:meth:`wake`, from any thread) and retries failures with a growing delay."""

    def __init__(
        self,
        outbox: LedgerOutbox,
        submit: Submit,
        loop: asyncio.AbstractEventLoop,
        *,
        max_backoff: float = 30.0,
    ) -> None:
        self.outbox = outbox
        self.submit = submit
        self.loop = loop
        self.max_backoff = max_backoff
        self.last_error: BaseException | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Run in the background (call on the loop); submits what a previous run left first."""
        if self._task is None:
            self._task = self.loop.create_task(self._run())
            self._wake.set()

    def wake(self, delay: float = 0.0) -> None:
        """Submit soon (``delay`` seconds), from any thread."""
        if self._task is None:
            return
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._schedule(delay)
        else:
            self.loop.call_soon_threadsafe(self._schedule, delay)

    def _schedule(self, delay: float) -> None:
        if delay <= 0:
            self._wake.set()
        elif self._timer is None:
            self._timer = self.loop.call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                backoff = 0.0
            except Exception as exc:  # logged; the rows stay and are retried
                backoff = min(self.max_backoff, max(0.25, backoff * 2))
                log.warning("ledger outbox: submission failed (%r); retry in %.2fs", exc, backoff)
                self._schedule(backoff)

    async def flush(self) -> None:
        """Submit every pending row (notes grouped first) and wait for each to commit. Raises
        the first retryable failure (the rows stay); contract refusals are set aside."""
        async with self._lock:
            self.outbox.seal_notes()
            after = 0
            while rows := self.outbox.pending(after):
                for batch in _batches(rows):
                    seqs = [r.seq for r in batch]
                    try:
                        await self.submit(*_call(batch))
                    except Exception as exc:
                        self.last_error = exc
                        refused = is_refusal(exc)
                        self.outbox.failed(seqs, exc, rejected=refused)
                        if not refused:
                            raise
                        log.error("ledger outbox: %s rows refused by the contract: %s", seqs, exc)
                    else:
                        self.outbox.done(seqs)
                    after = seqs[-1]

    async def stop(self) -> None:
        """Stop the background task (pending rows stay in the outbox)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)
