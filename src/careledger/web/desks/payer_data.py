"""What the payer desk shows, read from the node's payer side (:class:`~careledger.web.context.
PayerBackend`): the prior-authorization review queue with its deadlines, decisions (through
:meth:`~careledger.payer.pas.service.PriorAuthService.decide`, so they are on the chain), the
claims queue and duplicate alerts, remittances (an 835 per payee and day) and the provider
directory with each licence's verification status.

Decision times and cross-payer duplicate alerts come from the chain's events, read by
:class:`ChainEvents` a block at a time from where it stopped (never the whole chain per page).
What the pages put in addresses are hex ids and authorization numbers (letters), never a
member's or a patient's identifier.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from careledger.contracts.payer.authorization import NEEDS_REASON, ReasonCode
from careledger.contracts.payer.model import iso_day
from careledger.errors import CareLedgerError, EncodingError, InvalidInput, NotFound
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import decode_envelope, decode_proposal, decode_response
from careledger.node.peer import Peer
from careledger.payer.pas.metrics import PriorAuthReport, prior_auth_report
from careledger.web.context import PayerBackend, UiContext

JSON = dict[str, Any]
HOUR_MS = 3_600_000
STATUS = {
    "A1": "approved",
    "A2": "partly approved",
    "A3": "denied",
    "A4": "pended",
    "A6": "approved as modified",
    "C": "cancelled",
}
#: The reviewer's choices on the desk: approve as requested, deny, keep pended.
ACTIONS = {"A1": "Approve", "A3": "Deny", "A4": "Pend"}
MAX_TEXT = 4000
RECENT = 50
KEEP_EVENTS = 20_000
_REASON = msgspec.json.Decoder(ReasonCode)


class DecisionError(ValueError):
    """What is wrong with a decision form, in words for the page (nothing was written)."""


def left(deadline: int, now: int) -> str:
    """The time to ``deadline`` in words: ``2 d 5 h left`` or ``overdue by 3 h``."""
    span = abs(deadline - now) // 60_000
    days, rest = divmod(span, 24 * 60)
    hours, minutes = divmod(rest, 60)
    words = f"{days} d {hours} h" if days else f"{hours} h {minutes} min"
    return f"{words} left" if deadline >= now else f"overdue by {words}"


@dataclass(frozen=True)
class Service:
    sequence: int
    code: str
    units: int
    start: str
    end: str


@dataclass(frozen=True)
class Request:
    """One prior-authorization request as a desk shows it."""

    number: str
    payer: str
    requester: str
    priority: str
    status: str
    submitted_at: int
    deadline: int
    decided_at: int | None
    reasons: list[str]
    services: list[Service]
    overdue: bool
    time_left: str
    member: str = ""
    """The member's name from the request's Patient entry (payer's desk only; off chain)."""

    @property
    def status_text(self) -> str:
        return STATUS.get(self.status, self.status)


def request_of(record: JSON, now: int, member: str = "") -> Request:
    services = [
        Service(i["sequence"], i["code"], i["units"], iso_day(i["start"]), iso_day(i["end"]))
        for i in record["items"]
    ]
    pended = record["status"] == "A4"
    overdue = pended and (bool(record.get("breached")) or record["deadline"] < now)
    return Request(
        number=record["number"],
        payer=record["payer"],
        requester=record["requester"],
        priority=record["priority"],
        status=record["status"],
        submitted_at=record["submitted_at"],
        deadline=record["deadline"],
        decided_at=record.get("decided_at"),
        reasons=list(record.get("reasons") or []),
        services=services,
        overdue=overdue,
        time_left=left(record["deadline"], now) if pended else "",
        member=member,
    )


def _member_name(entry: JSON | None) -> str:
    """The name in a request's stored Patient entry (``{fullUrl, resource}``), or ""."""
    patient = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(patient, dict):
        return ""
    for name in patient.get("name") or []:
        if isinstance(name, dict):
            given = " ".join(str(g) for g in name.get("given") or [])
            return f"{given} {name.get('family', '')}".strip()[:200]
    return ""


def decision_body(action: str, reason: str, text: str) -> bytes:
    """The body of :meth:`PriorAuthService.decide` for a desk form, or :class:`DecisionError`:
    a denial needs a reason code and the reviewer's explanation."""
    if action not in ACTIONS:
        raise DecisionError("Choose approve, deny or pend.")
    body: JSON = {"action": action}
    if reason:
        try:
            _REASON.decode(msgspec.json.encode(reason))
        except msgspec.ValidationError:
            raise DecisionError(
                "A reason code is 1 to 4 capital letters or digits (X12 HCR03, e.g. 0U)."
            ) from None
        body["reasons"] = [reason]
    if len(text) > MAX_TEXT:
        raise DecisionError(f"The explanation is at most {MAX_TEXT} characters.")
    if text:
        body["text"] = text
    if action in NEEDS_REASON and (not reason or not text):
        raise DecisionError("A denial needs a reason: give the reason code and an explanation.")
    return msgspec.json.encode(body)


@dataclass
class ChainEvents:
    """The ``prior_auth.*`` and cross-payer duplicate events of valid transactions, read from
    the node's peer a block at a time from the last height read (the newest
    :data:`KEEP_EVENTS` kept)."""

    peer: Peer
    height: int = 1
    events: list[tuple[str, JSON]] = field(default_factory=list)

    def refresh(self) -> list[tuple[str, JSON]]:
        top = self.peer.height()  # committed blocks only
        for number in range(self.height, top):
            block = self.peer.committed_block(number)
            for raw, code in zip(block.transactions, block.codes, strict=False):
                if code is not ValidationCode.VALID:
                    continue
                try:
                    envelope = decode_envelope(raw)
                    contract = decode_proposal(envelope.proposal).contract
                    if contract not in ("prior_auth", "claim_fingerprints"):
                        continue
                    found = decode_response(envelope.response).events
                except EncodingError:
                    continue
                for event in found:
                    if isinstance(event.payload, dict) and event.name.startswith(
                        ("prior_auth.", "claim.cross_payer")
                    ):
                        self.events.append((event.name, event.payload))
        self.height = max(self.height, top)
        del self.events[:-KEEP_EVENTS]
        return self.events


@dataclass(frozen=True)
class Decided:
    number: str
    priority: str
    action: str
    hours: float
    decided_at: int
    late: bool


@dataclass(frozen=True)
class ClaimRow:
    key: str
    status: str
    disposition: str
    charge_cents: int
    paid_cents: int
    day: str
    payee: str
    submitter: str
    related: str | None


@dataclass(frozen=True)
class RemittanceRow:
    ref: str
    npi: str
    payee: str
    day: int
    claims: int
    paid_cents: int

    @property
    def date(self) -> str:
        return iso_day(self.day)


@dataclass(frozen=True)
class DirectoryRow:
    id: str
    practitioner: str
    organization: str
    specialties: list[str]
    active: bool
    verified: bool | None
    why: str


def plot_unit(hours: list[float]) -> tuple[str, float]:
    """The unit a plot of ``hours`` reads best in, and the factor from hours to it."""
    peak = max(hours, default=0.0)
    if peak >= 1:
        return "hours", 1.0
    if peak * 60 >= 1:
        return "minutes", 60.0
    return "seconds", 3600.0


def remittance_ref(npi: str, day: int) -> str:
    """The hex id of a payee's 835 of a day in the desk's addresses."""
    return hashlib.sha256(f"{npi}|{day}".encode()).hexdigest()[:24]


class PayerData:
    """The payer desk's data source for one node (its :class:`PayerBackend`)."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.chain = ChainEvents(ctx.node.peer)

    @property
    def backend(self) -> PayerBackend:
        if self.ctx.payer is None:
            raise NotImplementedError("this node was started without its payer side")
        return self.ctx.payer

    # -- prior authorization -----------------------------------------------------------------
    async def _requests(self, status: str = "") -> list[JSON]:
        try:
            return await self.backend.prior_auth.requests(self.ctx.org, status)
        except CareLedgerError:  # the prior_auth contract is not approved here
            return []

    async def review_queue(self, now: int | None = None) -> list[Request]:
        """This payer's pended requests, overdue first, then by deadline."""
        now = now if now is not None else int(time.time() * 1000)
        store = self.backend.prior_auth.store
        queue = [
            request_of(r, now, _member_name(store.patient(str(r["number"]))))
            for r in await self._requests("A4")
            if r["payer"] == self.ctx.org
        ]
        return sorted(queue, key=lambda r: (not r.overdue, r.deadline))

    async def decided(self, now: int | None = None) -> list[Request]:
        """This payer's latest decisions, newest first."""
        now = now if now is not None else int(time.time() * 1000)
        done = [
            request_of(r, now)
            for r in await self._requests()
            if r["payer"] == self.ctx.org and r["status"] != "A4"
        ]
        return sorted(done, key=lambda r: -(r.decided_at or 0))[:RECENT]

    async def decide(self, number: str, action: str, reason: str, text: str) -> Request:
        """Decide a pended request of this payer on the chain (:class:`DecisionError` when the
        form is incomplete, before anything is sent)."""
        body = decision_body(action, reason, text)
        service = self.backend.prior_auth
        record = await service.get(number)
        if record["payer"] != self.ctx.org:
            raise NotFound(f"no prior authorization {number[:40]} at this payer")
        await service.decide(number, body)
        return request_of(await service.get(number), int(time.time() * 1000))

    def decision_times(self) -> tuple[list[Decided], PriorAuthReport]:
        """This payer's decisions from the chain's events (oldest first) and this year's CMS
        figures computed from the same events."""
        events = self.chain.refresh()
        final: dict[str, JSON] = {}
        for name, payload in events:
            number = str(payload.get("number"))
            if name == "prior_auth.decided" and payload.get("payer") == self.ctx.org:
                final[number] = payload
            elif name in ("prior_auth.cancelled", "prior_auth.appealed", "prior_auth.updated"):
                final.pop(number, None)
        rows = [
            Decided(
                number,
                str(d["priority"]),
                str(d["action"]),
                (int(d["decided_at"]) - int(d["started_at"])) / HOUR_MS,
                int(d["decided_at"]),
                bool(d.get("late")),
            )
            for number, d in final.items()
        ]
        year = datetime.now(UTC).year
        report = prior_auth_report(
            ((n, p) for n, p in events if n.startswith("prior_auth.")), year, self.ctx.org
        )
        return sorted(rows, key=lambda d: d.decided_at), report

    # -- claims ------------------------------------------------------------------------------
    async def claims(self) -> list[ClaimRow]:
        """The latest claims this payer adjudicated, newest first (pended ones included)."""
        desk = self.backend.claims
        if desk is None:
            return []
        rows = []
        for key in reversed(desk.archive.find()[-RECENT:]):
            try:
                found = await desk.adjudication(key)
            except CareLedgerError:  # the claims contract is not approved here
                return []
            archived = desk.archive.get(key)
            if found is None:
                continue
            rows.append(
                ClaimRow(
                    key=key,
                    status=found.status,
                    disposition=found.disposition,
                    charge_cents=found.total_charge_cents,
                    paid_cents=found.paid_cents,
                    day=iso_day(found.adjudicated),
                    payee=archived.payee_name if archived else "",
                    submitter=(archived.submitter if archived else "") or "—",
                    related=found.related,
                )
            )
        return rows

    async def review_claim(self, claim_key: str, duplicate: bool) -> str:
        """Decide a claim pended as a suspect duplicate; returns its new disposition."""
        desk = self.backend.claims
        if desk is None:
            raise NotFound("this node has no claims desk")
        done = await desk.review(claim_key, duplicate=duplicate)
        return done.disposition

    def cross_payer_alerts(self) -> list[JSON]:
        """Cross-payer duplicate events where this payer recorded the later claim line."""
        return [
            p
            for n, p in self.chain.refresh()
            if n == "claim.cross_payer_duplicate" and p.get("payer") == self.ctx.org
        ][-RECENT:]

    # -- remittance --------------------------------------------------------------------------
    async def remittances(self) -> list[RemittanceRow]:
        """One row per payee and adjudication day (an 835 each), newest day first."""
        remittance = self.backend.remittance
        if remittance is None:
            return []
        try:
            items = await remittance.items()
        except CareLedgerError:
            return []
        groups: dict[tuple[str, int], list[Any]] = {}
        for item in items:
            groups.setdefault((item.claim.billing_npi, item.adjudication.adjudicated), []).append(
                item
            )
        rows = []
        for (npi, day), found in groups.items():
            archived = remittance.desk.archive.get(found[0].adjudication.claim_key)
            rows.append(
                RemittanceRow(
                    remittance_ref(npi, day),
                    npi,
                    (archived.payee_name if archived else "") or f"provider {npi}",
                    day,
                    len(found),
                    sum(i.adjudication.paid_cents for i in found),
                )
            )
        return sorted(rows, key=lambda r: (-r.day, r.payee))

    async def remittance_file(self, ref: str) -> tuple[RemittanceRow, bytes]:
        for row in await self.remittances():
            if row.ref == ref:
                assert self.backend.remittance is not None
                done = await self.backend.remittance.payee_835(row.npi, row.day)
                return row, done.x12
        raise NotFound("no remittance with that id at this payer")

    # -- directory ---------------------------------------------------------------------------
    async def directory(self) -> list[DirectoryRow]:
        """Practitioner roles in the shared directory with their licence's status now."""
        evaluate = self.ctx.node.gateway.evaluate
        try:
            roles = await evaluate("directory", "entries", ["PractitionerRole"])
            people = await evaluate("directory", "entries", ["Practitioner"])
            orgs = await evaluate("directory", "entries", ["Organization"])
        except CareLedgerError:  # the directory contract is not approved here
            return []
        names = {e["entry"]["id"]: e["entry"].get("name") or "" for e in people + orgs}
        licences = self.backend.licences
        rows = []
        for stored in roles:
            entry = stored["entry"]
            licence = entry.get("licence")
            verified: bool | None = None
            why = "no licence on file"
            if licence is not None:
                if licences is None:
                    verified, why = False, "licence checks are not available on this node"
                else:
                    status = licences.verified(licence)
                    verified, why = status.verified, status.reason or "licence in good standing"
            rows.append(
                DirectoryRow(
                    entry["id"],
                    names.get(entry.get("practitioner") or "", "") or "—",
                    names.get(entry.get("organization") or "", "") or "—",
                    list(entry.get("specialties") or []),
                    bool(entry.get("active", True)),
                    verified,
                    why,
                )
            )
        return rows


def parse_number(text: str) -> str:
    """An authorization number from a form (``PA`` and letters), or :class:`InvalidInput`."""
    text = text.strip()
    if not (3 <= len(text) <= 40 and text.isalnum() and text.isupper()):
        raise InvalidInput("not an authorization number")
    return text
