"""Accounting of disclosures (HIPAA 45 CFR 164.528) and break-glass notices, read from the
audit contract: what a patient asks to see about who received their data, and why.

Not for: recording the audit (:class:`careledger.longitudinal.ledger.AuditTrail`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from careledger.contracts import audit as audit_contract
from careledger.longitudinal.session import LedgerSession

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
HANDLE_SYSTEM = "https://careledger.dev/fhir/sid/locator-handle"
ORG_SYSTEM = "urn:careledger:org"


@dataclass(frozen=True, slots=True)
class DisclosureRow:
    """One audit record: who received (or was refused) what about the patient, when, why."""

    recorded: int
    holder: str
    requester: str
    practitioner: str | None
    action: str
    reason: str
    purpose: str | None
    resource_types: tuple[str, ...]
    count: int
    break_glass: bool
    break_glass_reason: str | None
    tx: str


@dataclass(frozen=True, slots=True)
class AccountingReport:
    handle: str
    start: int
    end: int
    rows: tuple[DisclosureRow, ...]

    def disclosures(self) -> list[DisclosureRow]:
        """Disclosures proper (what 164.528 requires), without denials and erasures."""
        return [r for r in self.rows if r.action == "disclose"]

    def audit_events(self) -> list[Any]:
        """Every row as a validated FHIR R4 ``AuditEvent`` (``fhir.resources`` R4B)."""
        from fhir.resources.R4B.auditevent import AuditEvent

        events: list[Any] = []
        for row in self.rows:
            instant = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(row.recorded / 1000))
            agents: list[dict[str, Any]] = [
                {
                    "requestor": True,
                    "who": {"identifier": {"system": ORG_SYSTEM, "value": row.requester}},
                }
            ]
            if row.practitioner:
                agents.append(
                    {
                        "requestor": True,
                        "who": {
                            "identifier": {"system": "urn:ietf:rfc:3986", "value": row.practitioner}
                        },
                    }
                )
            data: dict[str, Any] = {
                "resourceType": "AuditEvent",
                "id": f"{row.tx[:32]}-{len(events)}",
                "type": {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
                "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
                "action": "D" if row.action == "erase" else "R",
                "recorded": f"{instant}.{row.recorded % 1000:03d}Z",
                "outcome": "0" if row.action != "deny" else "4",
                "outcomeDesc": f"{row.action}: {row.reason}, {row.count} resource(s) "
                f"({', '.join(row.resource_types) or '-'})",
                "agent": agents,
                "source": {"observer": {"identifier": {"system": ORG_SYSTEM, "value": row.holder}}},
                "entity": [
                    {
                        "what": {"identifier": {"system": HANDLE_SYSTEM, "value": self.handle}},
                        "role": {
                            "system": "http://terminology.hl7.org/CodeSystem/object-role",
                            "code": "1",
                        },
                    }
                ],
            }
            purposes = [{"coding": [{"system": PURPOSE_SYSTEM, "code": row.purpose}]}]
            if row.purpose:
                data["purposeOfEvent"] = purposes
            if row.break_glass:
                data["purposeOfEvent"] = [
                    *purposes,
                    {"coding": [{"system": PURPOSE_SYSTEM, "code": "BTG"}]},
                ]
            events.append(AuditEvent.model_validate(data))
        return events


def accounting_of_disclosures(
    session: LedgerSession, handle: str, start: int, end: int
) -> AccountingReport:
    """Every audit record about ``handle`` recorded in ``[start, end)`` (ms), from every holder."""
    rows = tuple(
        DisclosureRow(
            r["recorded"],
            r["holder"],
            r["requester"],
            r["practitioner"],
            r["action"],
            r["reason"],
            r["purpose"],
            tuple(r["resource_types"]),
            r["count"],
            r["break_glass"],
            r["break_glass_reason"],
            r["tx"],
        )
        for r in session.query(audit_contract.NAMESPACE, "records", [handle, start, end])
    )
    return AccountingReport(handle, start, end, rows)


def break_glass_notices(session: LedgerSession, handle: str) -> list[dict[str, Any]]:
    """The patient's break-glass notifications (holder, requester, reason, count, time)."""
    return list(session.query(audit_contract.NAMESPACE, "notices", [handle]))
