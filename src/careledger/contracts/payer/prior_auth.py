"""The ``prior_auth`` contract: prior authorization requests, decisions and their clocks.

What the parties must agree on and prove later, never the clinical content: a request is known
by the SHA-256 of its PAS request Bundle's ``identifier`` (idempotency) and of its content, the
member by the payer's pseudonymous handle, services by billing codes as X12 qualifies them
(``HC:72148``) and unit counts, service periods in day numbers, clock times in ms. The Bundle
itself, the patient and the reviewer's text stay at the payer's node
(:mod:`careledger.payer.pas.store`); only the text's hash is here.

The life of a request (X12 306 action codes, as the PAS response carries them):

* ``submit`` — recorded pended (``A4``) with a decision deadline counted from the request's
  time: 72 h expedited, 7 calendar days standard (CMS-0057-F). The time is the proposal's
  timestamp (:attr:`Stub.timestamp`): contracts see no block time, and a contract result must
  not depend on when a block is cut. Re-submitting the same Bundle identifier with the same
  content returns the recorded request; with other content it is refused.
* ``decide`` — by the payer organisation only: ``A1`` certified, ``A2`` partial, ``A3`` not
  certified, ``A6`` modified (``A4`` keeps it pended). ``A2``/``A3``/``A6`` need at least one
  machine reason code *and* the hash of the human explanation, or the contract refuses. An
  approval (``A1``/``A2``/``A6``) writes ``authorization/{number}``
  (:class:`~careledger.contracts.payer.values.AuthorizationRecord`), which the claims
  contract reads.
* ``extend`` — the payer takes the extended timeframe once (14 more days, standard only),
  with a reason code; ``appeal`` — the requester appeals a denial: pended again, new clock.
* ``update`` — the requester replaces the services of a pended or approved request (a denied one
  cannot be updated); ``cancel`` — the requester withdraws it (``C``); a written authorization
  is marked cancelled.
* ``check_deadlines(now)`` — anyone marks the pended requests whose deadline passed before
  ``now`` (no later than the transaction's own time) as breached, once each, with an event.

Events (``prior_auth.*``) carry what the CMS public report needs, so any member recomputes the
metrics from the chain (:mod:`careledger.payer.pas.metrics`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.payer.authorization import (
    APPROVED,
    EXTENSION_MS,
    MAX_BREACHES_PER_CHECK,
    NAMESPACE,
    NEEDS_REASON,
    STATUS_OF_ACTION,
    Decision,
    NumberRef,
    PaSubmission,
    PriorAuthRecord,
    ReasonCode,
    RequestedService,
    RequestIndex,
    ServiceDecision,
    authorization_number,
    deadline_for,
    sortable_ms,
)
from careledger.contracts.payer.values import AuthorizationNumber, AuthorizationRecord
from careledger.contracts.phi_guard import (
    Handle,
    HexDigest,
    Millis,
    OrgId,
    check_struct,
    require,
)
from careledger.errors import ContractError, InvalidInput

MAX_LISTED = 500


def _check_items(items: list[RequestedService]) -> None:
    if len({i.sequence for i in items}) != len(items):
        raise InvalidInput("service sequences must be unique")
    for item in items:
        if item.end < item.start:
            raise InvalidInput(f"service {item.sequence}: its period ends before it starts")


class PriorAuth(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {
        "pa": PriorAuthRecord,
        "req": RequestIndex,
        "claim": NumberRef,
        "member": NumberRef,
        "pending": NumberRef,
        "authorization": AuthorizationRecord,
    }

    # -- reading helpers ---------------------------------------------------------------------
    def _record(self, stub: Stub, number: str) -> PriorAuthRecord:
        require(number, AuthorizationNumber, "number")
        record: PriorAuthRecord | None = stub.get(f"pa/{number}")
        if record is None:
            raise ContractError(f"no prior authorization {number}")
        return record

    def _by_claim(self, stub: Stub, claim: str) -> PriorAuthRecord:
        require(claim, HexDigest, "claim")
        ref: NumberRef | None = stub.get(f"claim/{claim}")
        if ref is None:
            raise ContractError("related.claim names no prior authorization request")
        return self._record(stub, ref.number)

    def _save(self, stub: Stub, record: PriorAuthRecord) -> None:
        check_struct(record)
        stub.put(f"pa/{record.number}", record)
        pending = f"pending/{sortable_ms(record.deadline)}/{record.number}"
        if record.status == "A4" and not record.breached:
            stub.put(pending, NumberRef(record.number))
        elif stub.get(pending) is not None:
            stub.delete(pending)

    def _unpend(self, stub: Stub, record: PriorAuthRecord) -> None:
        key = f"pending/{sortable_ms(record.deadline)}/{record.number}"
        if stub.get(key) is not None:
            stub.delete(key)

    # -- the requester's side, recorded by the payer's node that received the Bundle ---------
    @invoke
    def submit(self, stub: Stub, submission: PaSubmission) -> dict[str, Any]:
        """Record a PAS request as pended with its decision deadline (idempotent)."""
        check_struct(submission)
        _check_items(submission.items)
        payer = stub.creator.org
        if stub.read_namespace("_gov", f"org/{submission.requester}") is None:
            raise ContractError(f"{submission.requester} is not an organisation of the consortium")
        known: RequestIndex | None = stub.get(f"req/{submission.request}")
        if known is not None:
            if known.bundle != submission.bundle:
                raise ContractError(
                    "this Bundle identifier was already submitted with other content"
                )
            return self._view(self._record(stub, known.number)) | {"duplicate": True}
        if stub.get(f"claim/{submission.claim}") is not None:
            raise ContractError("a request with this Claim identifier exists; use related.claim")
        number = authorization_number(submission.request)
        record = PriorAuthRecord(
            number=number,
            request=submission.request,
            bundle=submission.bundle,
            claim=submission.claim,
            payer=payer,
            requester=submission.requester,
            member=submission.member,
            priority=submission.priority,
            items=list(submission.items),
            status="A4",
            submitted_at=stub.timestamp,
            deadline=deadline_for(submission.priority, stub.timestamp),
            clock_start=stub.timestamp,
        )
        self._save(stub, record)
        stub.put(f"req/{submission.request}", RequestIndex(number, submission.bundle))
        stub.put(f"claim/{submission.claim}", NumberRef(number))
        stub.put(f"member/{submission.member}/{number}", NumberRef(number))
        stub.emit(
            "prior_auth.submitted",
            {
                "number": number,
                "payer": payer,
                "requester": submission.requester,
                "priority": submission.priority,
                "submitted_at": stub.timestamp,
                "deadline": record.deadline,
            },
        )
        return self._view(record) | {"duplicate": False}

    @invoke
    def update(self, stub: Stub, claim: str, submission: PaSubmission) -> dict[str, Any]:
        """Replace the services of the request ``claim`` (its related.claim); pended again."""
        check_struct(submission)
        _check_items(submission.items)
        record = self._by_claim(stub, claim)
        self._payer_only(stub, record)
        if submission.requester != record.requester or submission.member != record.member:
            raise ContractError("an update comes from the same requester for the same member")
        if record.status in ("A3", "C"):
            raise ContractError(f"a request in status {record.status} cannot be updated")
        known: RequestIndex | None = stub.get(f"req/{submission.request}")
        if known is not None:
            if known.bundle != submission.bundle or known.number != record.number:
                raise ContractError(
                    "this Bundle identifier was already submitted with other content"
                )
            return self._view(record) | {"duplicate": True}
        self._unpend(stub, record)
        updated = msgspec.structs.replace(
            record,
            bundle=submission.bundle,
            items=list(submission.items),
            priority=submission.priority,
            status="A4",
            deadline=deadline_for(submission.priority, stub.timestamp),
            clock_start=stub.timestamp,
            decided_at=None,
            reasons=[],
            text=None,
            approved=[],
            breached=False,
            updates=record.updates + 1,
        )
        self._save(stub, updated)
        stub.put(f"req/{submission.request}", RequestIndex(record.number, submission.bundle))
        if stub.get(f"authorization/{record.number}") is not None:
            stub.delete(f"authorization/{record.number}")
        stub.emit(
            "prior_auth.updated",
            {"number": record.number, "deadline": updated.deadline, "at": stub.timestamp},
        )
        return self._view(updated) | {"duplicate": False}

    @invoke
    def cancel(self, stub: Stub, claim: str) -> dict[str, Any]:
        """Withdraw the request ``claim`` names (X12 306 ``C``)."""
        record = self._by_claim(stub, claim)
        self._payer_only(stub, record)
        if record.status == "C":
            return self._view(record)
        self._unpend(stub, record)
        cancelled = msgspec.structs.replace(record, status="C")
        self._save(stub, cancelled)
        auth: AuthorizationRecord | None = stub.get(f"authorization/{record.number}")
        if auth is not None:
            cancelled_auth = msgspec.structs.replace(auth, status="cancelled")
            stub.put(f"authorization/{record.number}", cancelled_auth)
        stub.emit("prior_auth.cancelled", {"number": record.number, "at": stub.timestamp})
        return self._view(cancelled)

    @invoke
    def appeal(self, stub: Stub, number: str) -> dict[str, Any]:
        """Appeal a denial: pended again with a new clock, counted as an appeal in the report."""
        record = self._record(stub, number)
        self._payer_only(stub, record)
        if record.status != "A3":
            raise ContractError("only a denied (A3) request can be appealed")
        appealed = msgspec.structs.replace(
            record,
            status="A4",
            appealed=True,
            breached=False,
            deadline=deadline_for(record.priority, stub.timestamp),
            clock_start=stub.timestamp,
        )
        self._save(stub, appealed)
        stub.emit(
            "prior_auth.appealed",
            {"number": number, "deadline": appealed.deadline, "at": stub.timestamp},
        )
        return self._view(appealed)

    # -- the payer's side --------------------------------------------------------------------
    def _payer_only(self, stub: Stub, record: PriorAuthRecord) -> None:
        if stub.creator.org != record.payer:
            raise ContractError(f"only the payer {record.payer} acts on this request")

    @invoke
    def decide(self, stub: Stub, number: str, decision: Decision) -> dict[str, Any]:
        """The payer's review decision; approvals write ``authorization/{number}``."""
        check_struct(decision)
        record = self._record(stub, number)
        self._payer_only(stub, record)
        if record.status != "A4":
            raise ContractError(f"request {number} is not pended (status {record.status})")
        if decision.action in NEEDS_REASON and (not decision.reasons or decision.text is None):
            raise ContractError(
                f"a decision {decision.action} needs at least one reason code and the "
                "reviewer's explanation"
            )
        if decision.action == "A4":
            return self._view(record)
        approved = self._approved_services(record, decision)
        self._unpend(stub, record)
        decided = msgspec.structs.replace(
            record,
            status=decision.action,
            decided_at=stub.timestamp,
            reasons=list(decision.reasons),
            text=decision.text,
            approved=approved,
        )
        self._save(stub, decided)
        if decision.action in APPROVED:
            stub.put(f"authorization/{number}", _authorization(decided))
        stub.emit(
            "prior_auth.decided",
            {
                "number": number,
                "payer": record.payer,
                "action": decision.action,
                "priority": record.priority,
                "submitted_at": record.submitted_at,
                "started_at": record.clock_start,
                "decided_at": stub.timestamp,
                "extended": record.extended,
                "appealed": record.appealed,
                "late": stub.timestamp > record.deadline,
            },
        )
        return self._view(decided)

    def _approved_services(
        self, record: PriorAuthRecord, decision: Decision
    ) -> list[ServiceDecision]:
        if decision.action == "A3":
            return []
        requested = {i.sequence: i for i in record.items}
        given = {s.sequence: s for s in decision.services}
        if len(given) != len(decision.services) or not set(given) <= set(requested):
            raise InvalidInput("decided services must name requested sequences, once each")
        if decision.action == "A1" and given:
            raise InvalidInput("A1 certifies the services as requested; use A2 or A6 to change")
        out = []
        for seq, item in sorted(requested.items()):
            service = given.get(seq)
            if service is None:
                out.append(ServiceDecision(seq, item.units, item.start, item.end))
                continue
            if service.end < service.start:
                raise InvalidInput(f"service {seq}: its period ends before it starts")
            if decision.action == "A2" and service.units > item.units:
                raise InvalidInput(f"service {seq}: a partial approval cannot add units")
            out.append(service)
        if all(s.units == 0 for s in out):
            raise InvalidInput("an approval approves at least one unit; deny with A3")
        return out

    @invoke
    def extend(self, stub: Stub, number: str, reason: str) -> dict[str, Any]:
        """Take the extended timeframe (14 days, once, standard requests) with a reason code."""
        require(reason, ReasonCode, "reason")
        record = self._record(stub, number)
        self._payer_only(stub, record)
        if record.status != "A4" or record.breached:
            raise ContractError("only a pended request within its deadline can be extended")
        if record.priority != "standard" or record.extended:
            raise ContractError("the extension is taken once, on standard requests")
        self._unpend(stub, record)
        extended = msgspec.structs.replace(
            record, extended=True, deadline=record.deadline + EXTENSION_MS
        )
        self._save(stub, extended)
        stub.emit(
            "prior_auth.extended",
            {"number": number, "deadline": extended.deadline, "reason": reason},
        )
        return self._view(extended)

    @invoke
    def check_deadlines(self, stub: Stub, now: int) -> dict[str, Any]:
        """Mark pended requests whose deadline passed before ``now`` as breached (once each)."""
        require(now, Millis, "now")
        if now > stub.timestamp:
            raise InvalidInput("now cannot be later than the transaction's own time")
        due = stub.range("pending/", f"pending/{sortable_ms(now)}", MAX_BREACHES_PER_CHECK)
        marked = []
        for _key, ref in due:
            record = self._record(stub, ref.number)
            self._save(stub, msgspec.structs.replace(record, breached=True))
            stub.emit(
                "prior_auth.deadline_breached",
                {
                    "number": record.number,
                    "payer": record.payer,
                    "priority": record.priority,
                    "deadline": record.deadline,
                    "at": now,
                },
            )
            marked.append(record.number)
        return {"breached": marked, "more": len(due) == MAX_BREACHES_PER_CHECK}

    # -- queries -----------------------------------------------------------------------------
    @query
    def get(self, stub: Stub, number: str) -> dict[str, Any] | None:
        require(number, AuthorizationNumber, "number")
        record: PriorAuthRecord | None = stub.get(f"pa/{number}")
        return None if record is None else self._view(record)

    @query
    def by_request(self, stub: Stub, request: str) -> dict[str, Any] | None:
        """The record of a Bundle identifier hash, or None."""
        require(request, HexDigest, "request")
        ref: RequestIndex | None = stub.get(f"req/{request}")
        return None if ref is None else self._view(self._record(stub, ref.number))

    @query
    def by_claim(self, stub: Stub, claim: str) -> dict[str, Any] | None:
        require(claim, HexDigest, "claim")
        ref: NumberRef | None = stub.get(f"claim/{claim}")
        return None if ref is None else self._view(self._record(stub, ref.number))

    @query
    def inquire(self, stub: Stub, member: str) -> list[dict[str, Any]]:
        """Every request of a member (by the payer's handle), oldest number first."""
        require(member, Handle, "member")
        refs = stub.range(f"member/{member}/", f"member/{member}0")
        return [self._view(self._record(stub, ref.number)) for _k, ref in refs]

    @query
    def pending(self, stub: Stub) -> list[dict[str, Any]]:
        """Pended requests not yet breached, earliest deadline first (the review queue)."""
        return [
            self._view(self._record(stub, r.number)) for _k, r in stub.range("pending/", "pending0")
        ]

    @query
    def requests(self, stub: Stub, party: str, status: str = "") -> list[dict[str, Any]]:
        """Requests where ``party`` is the payer or the requester (only those in ``status``,
        e.g. ``A4``, when given), the newest :data:`MAX_LISTED` first: the payer's review queue
        with the overdue requests :meth:`pending` leaves out, and a requester's own requests
        with their status (the web UI's desks). It reads every request (no per-party index)."""
        require(party, OrgId, "party")
        if status and status not in ("A1", "A2", "A3", "A4", "A6", "C"):
            raise InvalidInput("status is an X12 306 action code (A1, A2, A3, A4, A6, C)")
        found = [
            record
            for _k, record in stub.range("pa/", "pa0")
            if party in (record.payer, record.requester) and status in ("", record.status)
        ]
        found.sort(key=lambda r: (-r.submitted_at, r.number))
        return [self._view(r) for r in found[:MAX_LISTED]]

    @query
    def authorization(self, stub: Stub, number: str) -> dict[str, Any] | None:
        require(number, AuthorizationNumber, "number")
        found: AuthorizationRecord | None = stub.get(f"authorization/{number}")
        return None if found is None else msgspec.to_builtins(found)

    def _view(self, record: PriorAuthRecord) -> dict[str, Any]:
        return msgspec.to_builtins(record)  # type: ignore[no-any-return]


def _authorization(record: PriorAuthRecord) -> AuthorizationRecord:
    """The record the claims contract matches a claim line against."""
    approved = [s for s in record.approved if s.units > 0]
    codes = {i.sequence: i.code for i in record.items}
    return AuthorizationRecord(
        number=record.number,
        payer=record.payer,
        member=record.member,
        codes=sorted({codes[s.sequence] for s in approved}),
        units=sum(s.units for s in approved),
        start=min(s.start for s in approved),
        end=max(s.end for s in approved),
        status=STATUS_OF_ACTION[record.status],  # type: ignore[arg-type]
    )
