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

Threads: the FHIR service calls the listener and the policy from request threads; ledger work is
done on the network's event loop (:class:`LedgerSession`). Submissions run in the background —
:meth:`ProviderLedger.flush` waits for them. The outbox is in memory (see Known limits in
docs/interoperability.md).

Not for: assembling the longitudinal record (:mod:`careledger.fhir.everything`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import msgspec

from careledger.contracts import audit as audit_contract
from careledger.contracts import record_locator as locator
from careledger.contracts.consent import ConsentRecord, covers, decode_records
from careledger.contracts.record_locator import EntryInput, resource_ref, salted_content_hash
from careledger.crypto.keys import verify
from careledger.errors import CareLedgerError, InvalidInput
from careledger.fhir.base import AccessDecision, AccessRequest, ResourceEvent, StoredVersion
from careledger.fhir.query import MAX_COUNT, parse_search
from careledger.fhir.resources import SUPPORTED_TYPES, SensitivityLabel, clinical_date, sensitivity
from careledger.identity.did.keys import PublicKey

if TYPE_CHECKING:
    from careledger.fhir.service import FhirService
    from careledger.node.gateway import Gateway

log = logging.getLogger("careledger.fhir.ledger")

SENSITIVE = frozenset({"ETH", "SUD", "PSY", "MH", "BH", "HIV", "STD", "SDV", "SEX", "GDIS", "SCA"})
ENROL_DOMAIN = "careledger/fhir/enrol/v1"
DEFAULT_PURPOSE = "TREAT"
_MONTH_LEN = 7


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
    """Local patients linked to DIDs and handles (in memory; a deployment persists it next to
    the FHIR store — it is the holder's own data, never on the ledger)."""

    _by_patient: dict[str, PatientLink] = field(default_factory=dict)
    _by_did: dict[str, PatientLink] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def link(self, link: PatientLink) -> None:
        with self._lock:
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
                self._by_patient[patient] = link
                self._by_did[link.did] = link
            return link


# --- the bridge to the network's event loop ---------------------------------------------------


class LedgerSession:
    """A member's gateway usable from any thread: queries run on the loop that owns the
    network (directly when already on it), submissions are background tasks on that loop."""

    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.gateway = gateway
        self.loop = loop or asyncio.get_running_loop()
        self.failures: list[BaseException] = []
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def org(self) -> str:
        return self.gateway.identity.org

    def height(self) -> int:
        return self.gateway.peer.height()

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def query(self, contract: str, function: str, args: list[Any]) -> Any:
        """Evaluate a query on the gateway's peer, from any thread."""
        if self._on_loop():
            step = self.gateway.evaluate(contract, function, list(args))
            try:
                step.send(None)
            except StopIteration as done:
                return done.value
            step.close()
            raise CareLedgerError("the gateway's evaluate cannot complete synchronously")
        future = asyncio.run_coroutine_threadsafe(
            self.gateway.evaluate(contract, function, list(args)), self.loop
        )
        try:
            return future.result(timeout=30)
        except concurrent.futures.TimeoutError as exc:
            raise CareLedgerError("ledger query timed out") from exc

    def spawn(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work()`` on the loop in the background (thread-safe)."""

        def start() -> None:
            task = asyncio.ensure_future(work())
            self._tasks.add(task)
            task.add_done_callback(self._done)

        if self._on_loop():
            start()
        else:
            self.loop.call_soon_threadsafe(start)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            self.failures.append(exc)
            log.error("a background ledger submission failed", exc_info=exc)

    async def drain(self) -> None:
        """Wait until every background submission has finished (including ones they start)."""
        for _ in range(3):  # calls scheduled from other threads land on the next loop turns
            await asyncio.sleep(0)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            await asyncio.sleep(0)


# --- audit ------------------------------------------------------------------------------------


@dataclass
class _Group:
    types: set[str] = field(default_factory=set)
    refs: list[str] = field(default_factory=list)
    count: int = 0


class AuditTrail:
    """Collects decisions and writes them to the ``audit`` contract in batches: decisions with
    the same (patient, requester, purpose, outcome, reason) made within ``delay`` seconds become
    one record listing the resource refs."""

    def __init__(self, session: LedgerSession, *, delay: float = 0.02) -> None:
        self.session = session
        self.delay = delay
        self._pending: dict[tuple[Any, ...], _Group] = {}
        self._lock = threading.Lock()
        self._scheduled = False

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
        key = (handle, action, reason, requester, practitioner, purpose, break_glass_reason)
        with self._lock:
            group = self._pending.setdefault(key, _Group())
            if resource_type:
                group.types.add(resource_type)
            if ref and action == "disclose":
                group.refs.append(ref)
            group.count += count
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self.session.spawn(self._flush_later)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.delay)
        await self.flush()

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            pending, self._pending, self._scheduled = self._pending, {}, False
        records: list[dict[str, Any]] = []
        for key, group in pending.items():
            handle, action, reason, requester, practitioner, purpose, bg = key
            refs = group.refs or [""]
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
                        "resource_types": sorted(group.types),
                        "refs": chunk,
                        "count": len(chunk) or group.count,
                        "break_glass": bg is not None,
                        "break_glass_reason": bg,
                    }
                )
        return records

    async def flush(self) -> None:
        """Write what is pending now, and wait for it to commit."""
        records = self._take()
        for start in range(0, len(records), audit_contract.MAX_RECORDS):
            await self.session.gateway.submit(
                audit_contract.NAMESPACE,
                "record",
                [records[start : start + audit_contract.MAX_RECORDS]],
            )


# --- the provider's ledger side ---------------------------------------------------------------


class ProviderLedger:
    """One organisation's record locator listener, consent policy and audit trail."""

    def __init__(
        self,
        gateway: Gateway,
        secret: bytes,
        *,
        directory: PatientDirectory | None = None,
        clock: Callable[[], float] = time.time,
        audit_delay: float = 0.02,
    ) -> None:
        if len(secret) < 16:
            raise InvalidInput("the locator secret needs at least 16 bytes")
        self.session = LedgerSession(gateway)
        self.org = self.session.org
        self.directory = directory or PatientDirectory()
        self.audit = AuditTrail(self.session, delay=audit_delay)
        self._secret = secret
        self._clock = clock
        self._consents: dict[str, tuple[int, list[ConsentRecord]]] = {}

    # -- salts and refs ------------------------------------------------------------------------
    def salt(self, resource_type: str, resource_id: str) -> bytes:
        return hmac.new(
            self._secret, f"salt|{resource_type}/{resource_id}".encode(), hashlib.sha256
        ).digest()[:16]

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
        if entries:
            self.session.spawn(lambda: self.register(entries))

    async def register(self, entries: list[dict[str, Any]]) -> None:
        """Submit locator entries (one transaction per :data:`MAX_ENTRIES`)."""
        for start in range(0, len(entries), locator.MAX_ENTRIES):
            await self.session.gateway.submit(
                locator.NAMESPACE, "register", [entries[start : start + locator.MAX_ENTRIES]]
            )

    def patient_erased(self, patient: str) -> None:
        link = self.directory.mark_erased(patient)
        if link is None:
            return
        self.session.spawn(lambda: self._erase(link))

    async def _erase(self, link: PatientLink) -> None:
        await self.session.gateway.submit(locator.NAMESPACE, "erase", [link.handle])
        self.audit.note(link.handle, "erase", "erasure-request", self.org, purpose=None, count=1)
        await self.audit.flush()

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
            resource = msgspec.json.decode(v.content or b"{}")
            entries.append(
                self._entry(
                    link, v.resource_type, v.id, v.version, "update", v.content_hash,
                    clinical_date(resource) or v.last_updated, sensitivity(resource),
                )
            )  # fmt: skip
        if entries:
            await self.register(entries)
        return len(entries)

    async def flush(self) -> None:
        """Wait for every pending locator and audit submission."""
        await self.session.drain()
        await self.audit.flush()
        await self.session.drain()


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
