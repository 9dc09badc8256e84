"""A provider's FHIR store attached to the ledger: record locator, consent enforcement, audit.

:class:`ProviderLedger` is, for one organisation, both the
:class:`~careledger.fhir.base.ResourceListener` (each committed request or Bundle becomes one
``locator.register`` transaction; an erasure becomes ``locator.erase`` plus an audit record) and
the :class:`~careledger.fhir.base.AccessPolicy` (another organisation is served a resource only
when an active consent on the ledger covers it, as of the peer's committed height; every
decision is audited). Patients are linked to their DID and locator handle at *enrolment*, when
the patient proves control of the DID; resources of a patient who is not enrolled are not
indexed and not disclosed.

Salts: each resource's salt is ``HMAC-SHA256(secret, "Type/id")[:16]``, so the holder keeps no
salt table and hands the salt out with the resource; the secret never leaves the holder.

Durability: locator entries, erasures and access decisions are written to the holder's
:class:`~careledger.longitudinal.outbox.LedgerOutbox` (a local SQLite file) synchronously, by
the listener and the policy — before the FHIR request is answered — and submitted by an
:class:`~careledger.longitudinal.outbox.OutboxFlusher` that deletes each row once its
transaction has committed. Rows a crash leaves behind are submitted when the next
``ProviderLedger`` opens the same file; the contracts skip what was already recorded. The
patient directory lives in the same file. What a crash *before* the outbox write (after the
store's commit) or a failed listener call loses, :meth:`ProviderLedger.reconcile` recovers at
start from the store, past the outbox's cursor (:mod:`careledger.longitudinal.outbox`).

Threads: the FHIR service calls the listener and the policy from request threads; ledger work is
done on the network's event loop (:class:`~careledger.longitudinal.session.LedgerSession`).
Submissions run in the background — :meth:`ProviderLedger.flush` waits for them.

Not for: assembling the longitudinal record (:mod:`careledger.longitudinal.everything`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from careledger.contracts.consent import ConsentRecord, covers, decode_records
from careledger.contracts.record_locator import EntryInput, resource_ref, salted_content_hash
from careledger.crypto.keys import verify
from careledger.errors import InvalidInput
from careledger.fhir.base import (
    AccessDecision,
    AccessRequest,
    ResourceEvent,
    StoredVersion,
    event_of,
)
from careledger.fhir.query import MAX_COUNT, parse_search
from careledger.fhir.resources import SUPPORTED_TYPES, SensitivityLabel
from careledger.fhir.store.common import microseconds
from careledger.identity.did.keys import PublicKey
from careledger.longitudinal.outbox import Kind, LedgerOutbox, OutboxFlusher, new_record_id
from careledger.longitudinal.session import LedgerGateway, LedgerSession

if TYPE_CHECKING:
    from careledger.fhir.service import FhirService

log = logging.getLogger("careledger.longitudinal.ledger")

SENSITIVE = frozenset({"ETH", "SUD", "PSY", "MH", "BH", "HIV", "STD", "SDV", "SEX", "GDIS", "SCA"})
ENROL_DOMAIN = "careledger/fhir/enrol/v1"
DEFAULT_PURPOSE = "TREAT"
_MONTH_LEN = 7
RECONCILE_MARGIN_US = 5 * 60 * 1_000_000
"""How far before the outbox's cursor :meth:`ProviderLedger.reconcile` replays (5 minutes)."""


def enrolment_payload(did: str, handle: str, holder: str) -> bytes:
    """What a patient signs to link their DID and locator handle at ``holder``."""
    from careledger.crypto import encoding

    return encoding.encode({"domain": ENROL_DOMAIN, "did": did, "handle": handle, "holder": holder})


def sensitive_categories(label: SensitivityLabel) -> frozenset[str]:
    """What a consent must name for a resource with ``label`` to be disclosed."""
    found = set(label.categories) & SENSITIVE
    if label.confidentiality in ("R", "V"):
        found.add(label.confidentiality)
    return frozenset(found)


# --- enrolment directory ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientLink:
    patient: str  # Patient/<local id>
    did: str
    handle: str
    erased: bool = False


@dataclass
class PatientDirectory:
    """Local patients linked to DIDs and handles — the holder's own data, never on the ledger.
    With ``store`` (the ledger outbox's file) every change is written through and
    :meth:`load` reads it back after a restart."""

    _by_patient: dict[str, PatientLink] = field(default_factory=dict)
    _by_did: dict[str, PatientLink] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    store: LedgerOutbox | None = field(default=None, repr=False)

    @classmethod
    def load(cls, store: LedgerOutbox) -> PatientDirectory:
        directory = cls(store=store)
        for patient, did, handle, erased in store.links():
            link = PatientLink(patient, did, handle, erased)
            directory._by_patient[patient] = link
            directory._by_did[did] = link
        return directory

    def _save(self, link: PatientLink) -> None:
        if self.store is not None:
            self.store.save_link(link.patient, link.did, link.handle, link.erased)

    def link(self, link: PatientLink) -> None:
        with self._lock:
            self._save(link)
            self._by_patient[link.patient] = link
            self._by_did[link.did] = link

    def by_patient(self, patient: str | None) -> PatientLink | None:
        return self._by_patient.get(patient) if patient else None

    def by_did(self, did: str) -> PatientLink | None:
        return self._by_did.get(did)

    def mark_erased(self, patient: str) -> PatientLink | None:
        with self._lock:
            link = self._by_patient.get(patient)
            if link is not None:
                link = replace(link, erased=True)
                self._save(link)
                self._by_patient[patient] = link
                self._by_did[link.did] = link
            return link


# --- audit ------------------------------------------------------------------------------------


class AuditTrail:
    """Writes each access decision to the outbox as a *note* at once; the flusher groups the
    notes pending after ``delay`` seconds — same (patient, requester, purpose, outcome, reason)
    → one ``audit`` record listing the resource refs — and submits them."""

    def __init__(self, outbox: LedgerOutbox, flusher: OutboxFlusher, *, delay: float = 0.02):
        self.outbox = outbox
        self.flusher = flusher
        self.delay = delay

    def note(
        self,
        handle: str,
        action: str,
        reason: str,
        requester: str,
        *,
        purpose: str | None,
        resource_type: str | None = None,
        ref: str | None = None,
        count: int = 1,
        practitioner: str | None = None,
        break_glass_reason: str | None = None,
    ) -> None:
        self.notes(
            [
                {
                    "handle": handle,
                    "action": action,
                    "reason": reason,
                    "requester": requester,
                    "purpose": purpose,
                    "resource_type": resource_type,
                    "ref": ref,
                    "count": count,
                    "practitioner": practitioner,
                    "break_glass_reason": break_glass_reason,
                }
            ]
        )

    def notes(self, notes: Sequence[dict[str, Any]]) -> None:
        """Write several decisions (each with :meth:`note`'s fields) in one local transaction:
        one request's answer about many resources (``$everything``)."""
        if notes:
            self.outbox.add([("note", n) for n in notes])
            self.flusher.wake(self.delay)

    async def flush(self) -> None:
        """Write what is pending now (notes and everything queued before them), and wait for
        it to commit."""
        await self.flusher.flush()


# --- the provider's ledger side ---------------------------------------------------------------


class ProviderLedger:
    """One organisation's record locator listener, consent policy and audit trail.

    ``outbox``: the durable outbox (a :class:`LedgerOutbox` or the path of its SQLite file;
    default in memory, for tests and demos). Unless ``directory`` is given, the patient
    directory is loaded from it. With ``start`` (default) the flusher runs in the background and
    first submits what a previous run left; without it nothing is submitted until
    :meth:`flush` (tests use this to stand for a crash before the flush)."""

    def __init__(
        self,
        gateway: LedgerGateway,
        secret: bytes,
        *,
        directory: PatientDirectory | None = None,
        clock: Callable[[], float] = time.time,
        audit_delay: float = 0.02,
        outbox: LedgerOutbox | str | Path = ":memory:",
        start: bool = True,
    ) -> None:
        if len(secret) < 16:
            raise InvalidInput("the locator secret needs at least 16 bytes")
        self.session = LedgerSession(gateway)
        self.org = self.session.org
        self.outbox = outbox if isinstance(outbox, LedgerOutbox) else LedgerOutbox(outbox)
        self.directory = directory or PatientDirectory.load(self.outbox)
        self.flusher = OutboxFlusher(self.outbox, gateway.submit, self.session.loop)
        self.audit = AuditTrail(self.outbox, self.flusher, delay=audit_delay)
        if start:
            self.flusher.start()
        self._secret = secret
        self._clock = clock
        self._consents: dict[str, tuple[int, list[ConsentRecord]]] = {}
        self._held: int | None = None  # oldest updated_us a failed call did not write
        self._held_lock = threading.Lock()

    # -- salts and refs ------------------------------------------------------------------------
    def salt(self, resource_type: str, resource_id: str) -> bytes:
        return hmac.digest(self._secret, f"salt|{resource_type}/{resource_id}".encode(), "sha256")[
            :16
        ]

    def ref(self, resource_type: str, resource_id: str) -> str:
        return resource_ref(self.salt(resource_type, resource_id), resource_type, resource_id)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- ResourceListener ----------------------------------------------------------------------
    def _entry(
        self,
        link: PatientLink,
        resource_type: str,
        resource_id: str,
        version: int,
        action: str,
        content_hash: str | None,
        date: str | None,
        label: SensitivityLabel,
    ) -> dict[str, Any]:
        salt = self.salt(resource_type, resource_id)
        period = date[:_MONTH_LEN] if date and len(date) >= _MONTH_LEN else None
        item = EntryInput(
            link.handle,
            resource_ref(salt, resource_type, resource_id),
            resource_type,  # type: ignore[arg-type]
            version,
            action,  # type: ignore[arg-type]
            None
            if action == "delete" or content_hash is None
            else salted_content_hash(salt, content_hash),
            period,
            label.confidentiality,  # type: ignore[arg-type]
        )
        return msgspec.to_builtins(item)  # type: ignore[no-any-return]

    def resources_changed(self, events: Sequence[ResourceEvent]) -> None:
        """Queue the events' locator entries and advance the outbox's cursor to the newest
        event, in one local transaction (durable before the FHIR request is answered). After a
        failed call the cursor stays below its oldest event until the next start's
        :meth:`reconcile`, so the events are replayed however long that takes."""
        if not events:
            return
        stamps = [microseconds(e.last_updated) for e in events]
        try:
            entries = []
            for e in events:
                link = self.directory.by_patient(e.patient)
                if link is None or link.erased:
                    continue  # not enrolled: nothing to index (indexed at enrolment)
                action = "delete" if e.content_hash is None else e.action
                entries.append(
                    self._entry(
                        link, e.resource_type, e.id, e.version, action, e.content_hash, e.date,
                        e.sensitivity,
                    )
                )  # fmt: skip
            with self._held_lock:
                held = self._held
            cursor = max(stamps) if held is None else min(max(stamps), held - 1)
            self.outbox.add([("register", e) for e in entries], cursor=cursor)
        except BaseException:
            with self._held_lock:
                self._held = min(stamps) if self._held is None else min(self._held, *stamps)
            raise
        if entries:
            self.flusher.wake()

    def reconcile(self, service: FhirService) -> int:
        """Replay through this listener what ``service``'s store holds from
        :data:`RECONCILE_MARGIN_US` (5 minutes) before the outbox's cursor on: the versions a
        crash between the store's commit and the outbox write, or a failed call, kept from the
        locator. Call once at start, before the service takes writes (and before the flusher
        runs, so it submits the replayed rows with the rest); returns the events replayed.

        The margin, because ``updated_us`` is the writer's wall clock at *prepare* time: writes
        in flight at once reach the listener out of order (a later one can advance the cursor
        before an earlier one is written), and after a restart the clock may have stepped back
        (NTP) so new versions are stamped below the cursor. Five minutes covers both with room;
        a longer margin only costs more re-registrations, which the locator skips (a version at
        or below the indexed one). Without a cursor (a new or pre-cursor outbox file) the whole
        store is replayed once. Listener errors are raised: a start that did not reconcile
        must not take writes, or the cursor would move past what was missed."""
        since = max(0, self.outbox.cursor() - RECONCILE_MARGIN_US)
        replayed = service.replay_changes(since)
        if replayed:
            log.info("FHIR ledger: replayed %d stored versions since %d µs", replayed, since)
        return replayed

    async def register(self, entries: list[dict[str, Any]]) -> None:
        """Queue locator entries and wait until they (and everything queued before) commit."""
        self.outbox.add([("register", e) for e in entries])
        await self.flusher.flush()

    def patient_erased(self, patient: str) -> None:
        link = self.directory.mark_erased(patient)
        if link is None:
            return
        record = {
            "handle": link.handle,
            "action": "erase",
            "reason": "erasure-request",
            "requester": self.org,
            "count": 1,
            "id": new_record_id(),
        }
        items: list[tuple[Kind, dict[str, Any]]] = [
            ("erase", {"handle": link.handle}),
            ("audit", record),
        ]
        self.outbox.add(items)
        self.flusher.wake()

    # -- AccessPolicy --------------------------------------------------------------------------
    def consents(self, did: str) -> list[ConsentRecord]:
        """The patient's consents as of the peer's committed height (cached per height)."""
        height = self.session.height()
        cached = self._consents.get(did)
        if cached is not None and cached[0] == height:
            return cached[1]
        records = decode_records(self.session.query("consent", "consents", [did]))
        self._consents[did] = (height, records)
        return records

    def evaluate(
        self,
        link: PatientLink,
        requester: str,
        *,
        purpose: str,
        resource_type: str,
        label: SensitivityLabel,
        practitioner: str | None = None,
    ) -> tuple[bool, str]:
        """(permitted, audit reason) for one resource under the patient's consents now."""
        now = self.now_ms()
        needed = sensitive_categories(label)
        records = self.consents(link.did)
        ask = {
            "requester": requester,
            "practitioner": practitioner,
            "purpose": purpose,
            "resource_type": resource_type,
            "now": now,
        }
        if any(covers(r, sensitive=needed, **ask) for r in records):  # type: ignore[arg-type]
            return True, "consent"
        if needed and any(covers(r, sensitive=frozenset(), **ask) for r in records):  # type: ignore[arg-type]
            return False, "sensitive-withheld"
        return False, "no-consent"

    def permits(self, request: AccessRequest) -> bool:
        """:meth:`decide`'s answer without an audit note (counting and paging a search)."""
        link = self.directory.by_patient(request.patient)
        if link is None or link.erased:
            return False
        purpose = request.purpose or DEFAULT_PURPOSE
        return self.evaluate(
            link,
            request.requester,
            purpose=purpose,
            resource_type=request.resource_type,
            label=request.sensitivity,
        )[0]

    def decide(self, request: AccessRequest) -> AccessDecision:
        link = self.directory.by_patient(request.patient)
        if link is None or link.erased:
            return AccessDecision(False, "the patient is not enrolled with a DID here")
        purpose = request.purpose or DEFAULT_PURPOSE
        permitted, reason = self.evaluate(
            link,
            request.requester,
            purpose=purpose,
            resource_type=request.resource_type,
            label=request.sensitivity,
        )
        self.audit.note(
            link.handle,
            "disclose" if permitted else "deny",
            reason,
            request.requester,
            purpose=purpose,
            resource_type=request.resource_type,
            ref=self.ref(request.resource_type, request.resource_id),
        )
        return AccessDecision(permitted, reason)

    # -- enrolment -----------------------------------------------------------------------------
    def did_keys(self, did: str) -> list[bytes]:
        answer = self.session.query("dids", "resolve", [did, None, None])
        if answer is None or answer["metadata"].get("deactivated"):
            raise InvalidInput(f"{did} is not an active DID on the ledger")
        return [
            PublicKey.from_multikey(m["publicKeyMultibase"]).raw
            for m in answer["document"]["verificationMethod"]
        ]

    async def enrol(
        self, service: FhirService, patient: str, did: str, handle: str, signature: bytes
    ) -> int:
        """Link local ``patient`` to ``did`` and ``handle`` (the patient signed
        :func:`enrolment_payload`), then index what the holder already has about them.
        Returns the number of resources indexed."""
        payload = enrolment_payload(did, handle, self.org)
        if not any(verify(k, payload, signature) for k in self.did_keys(did)):
            raise InvalidInput("the enrolment is not signed by a current key of the DID")
        link = PatientLink(patient, did, handle)
        self.directory.link(link)
        versions = await asyncio.to_thread(patient_resources, service, patient)
        entries = []
        for v in versions:
            e = event_of(v, created=False)
            entries.append(
                self._entry(
                    link, v.resource_type, v.id, v.version, "update", v.content_hash, e.date,
                    e.sensitivity,
                )
            )  # fmt: skip
        if entries:
            await self.register(entries)
        return len(entries)

    async def flush(self) -> None:
        """Submit every pending outbox row and wait until each has committed."""
        await self.session.drain()
        await self.flusher.flush()

    async def close(self) -> None:
        """Stop the background flusher and close the outbox; what is still pending stays in
        the file for the next start (call :meth:`flush` first to submit it now)."""
        await self.flusher.stop()
        await self.session.drain()
        self.outbox.close()


def patient_resources(service: FhirService, patient: str) -> list[StoredVersion]:
    """Every current, readable resource of ``patient`` in ``service``'s store (all types)."""
    pid = patient.split("/", 1)[1]
    found: list[StoredVersion] = []
    for rtype in SUPPORTED_TYPES:
        param = "_id" if rtype == "Patient" else "patient"
        offset = 0
        while True:
            query = parse_search(
                rtype,
                [(param, pid), ("_count", str(MAX_COUNT)), ("_offset", str(offset))],
                service.base_url,
            )
            page, total = service.store.search(query)
            found.extend(page)
            offset += len(page)
            if not page or offset >= total:
                break
    return found
