"""The ``audit`` contract: every disclosure, denial, break-glass access and erasure — without PHI.

A holder (the transaction creator's organisation) records what it did about a patient handle:
who asked (organisation, practitioner DID), what (resource types, pseudonymous resource refs or
just a count), when (the proposal timestamp), why (purpose of use), the outcome and its reason
code, and for break-glass the reason code. Records are keyed by handle and time, so a patient —
who knows their handle — lists the disclosures of a period for the HIPAA accounting of
disclosures (45 CFR 164.528); a break-glass record also writes a *notice* the patient can query
and emits ``audit.break_glass``.

Records are batched (one transaction for many decisions) and never updated or deleted. A record
may carry an ``id`` (a SHA-256 hex the holder chose, fixed before the first submission): a
record whose id the holder already recorded is skipped, so a holder's outbox can resubmit after
a crash without writing it twice.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.phi_guard import (
    BreakGlassReason,
    Count,
    Did,
    Handle,
    HexDigest,
    Millis,
    OrgId,
    Purpose,
    ResourceType,
    check_schema,
    check_struct,
    require,
)
from careledger.errors import InvalidInput

NAMESPACE = "audit"
MAX_RECORDS = 256
MAX_REFS = 1000

Action = Literal["disclose", "deny", "erase"]
Reason = Literal[
    "consent",  # an active consent covers it
    "no-consent",  # no active consent covers it
    "sensitive-withheld",  # a sensitive category the consent does not name
    "break-glass",  # emergency access without consent
    "erasure-request",  # the patient asked the holder to erase
    "not-enrolled",  # the patient is not linked to a DID at the holder
]


class AuditInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    handle: Handle
    action: Action
    reason: Reason
    requester: OrgId
    practitioner: Did | None = None
    purpose: Purpose | None = None
    resource_types: Annotated[list[ResourceType], msgspec.Meta(max_length=13)] = []
    refs: Annotated[list[HexDigest], msgspec.Meta(max_length=MAX_REFS)] = []
    count: Count = 0
    break_glass: bool = False
    break_glass_reason: BreakGlassReason | None = None
    id: HexDigest | None = None  # the holder's idempotency key (see the module docstring)


class AuditRecord(msgspec.Struct, frozen=True):
    handle: Handle
    holder: OrgId
    action: Action
    reason: Reason
    requester: OrgId
    practitioner: Did | None
    purpose: Purpose | None
    resource_types: list[ResourceType]
    refs: list[HexDigest]
    count: Count
    break_glass: bool
    break_glass_reason: BreakGlassReason | None
    recorded: Millis
    tx: HexDigest


class Notice(msgspec.Struct, frozen=True):
    """Something the patient is told about: a break-glass access to their records."""

    handle: Handle
    holder: OrgId
    requester: OrgId
    practitioner: Did | None
    reason: BreakGlassReason
    count: Count
    recorded: Millis
    tx: HexDigest


class Seen(msgspec.Struct, frozen=True):
    """A record id the holder already recorded (``seen/<holder>/<id>``)."""

    recorded: Millis
    tx: HexDigest


for _schema in (AuditInput, AuditRecord, Notice, Seen):
    check_schema(_schema)


_LETTERS = str.maketrans("0123456789", "abcdefghij")


def _stamp(ms: int) -> str:
    """A sortable time component for keys, in letters: a digit run would read as an identifier
    to the PHI guard's key screen."""
    return f"{ms:015d}".translate(_LETTERS)


class Audit(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"rec": AuditRecord, "notice": Notice, "seen": Seen}

    @invoke
    def record(self, stub: Stub, records: list[AuditInput]) -> dict[str, Any]:
        """Append audit records for the creator organisation (the holder); a record whose
        ``id`` this holder already recorded is skipped (counted in ``skipped``)."""
        if not 1 <= len(records) <= MAX_RECORDS:
            raise InvalidInput(f"record takes 1 to {MAX_RECORDS} records")
        holder = stub.creator.org
        tag = stub.tx_id
        notices = skipped = 0
        ids: set[str] = set()
        for i, item in enumerate(records):
            check_struct(item)
            if item.break_glass != (item.break_glass_reason is not None):
                raise InvalidInput("break-glass needs a reason code, and only break-glass has one")
            if item.break_glass and item.purpose != "ETREAT":
                raise InvalidInput("break-glass is for emergency treatment (ETREAT) only")
            if item.id is not None:
                seen = f"seen/{holder}/{item.id}"
                if item.id in ids or stub.get(seen) is not None:
                    skipped += 1
                    continue
                ids.add(item.id)
                stub.put(seen, Seen(stub.timestamp, stub.tx_id))
            when = _stamp(stub.timestamp)
            stub.put(
                f"rec/{item.handle}/{when}/{tag}/{i:04d}",
                AuditRecord(
                    item.handle, holder, item.action, item.reason, item.requester,
                    item.practitioner, item.purpose, list(item.resource_types), list(item.refs),
                    item.count or len(item.refs), item.break_glass, item.break_glass_reason,
                    stub.timestamp, stub.tx_id,
                ),
            )  # fmt: skip
            if item.break_glass and item.break_glass_reason is not None:
                stub.put(
                    f"notice/{item.handle}/{when}/{tag}/{i:04d}",
                    Notice(
                        item.handle, holder, item.requester, item.practitioner,
                        item.break_glass_reason, item.count or len(item.refs), stub.timestamp,
                        stub.tx_id,
                    ),
                )  # fmt: skip
                notices += 1
                if notices <= 32:
                    stub.emit(
                        "audit.break_glass",
                        {
                            "handle": item.handle,
                            "holder": holder,
                            "requester": item.requester,
                            "reason": item.break_glass_reason,
                        },
                    )
        written = len(records) - skipped
        stub.emit("audit.recorded", {"holder": holder, "records": written})
        return {"records": written, "notices": notices, "skipped": skipped}

    @query
    def records(self, stub: Stub, handle: str, start: Millis, end: Millis) -> list[dict[str, Any]]:
        """The records about ``handle`` with ``start <= recorded < end`` (ms), oldest first."""
        require(handle, Handle, "handle")
        lo, hi = f"rec/{handle}/{_stamp(start)}", f"rec/{handle}/{_stamp(end)}"
        return [msgspec.to_builtins(r) for _k, r in stub.range(lo, hi)]

    @query
    def notices(self, stub: Stub, handle: str) -> list[dict[str, Any]]:
        """Break-glass notices for ``handle``, oldest first."""
        require(handle, Handle, "handle")
        return [
            msgspec.to_builtins(n) for _k, n in stub.range(f"notice/{handle}/", f"notice/{handle}0")
        ]
