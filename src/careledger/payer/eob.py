"""The member's ExplanationOfBenefit (CARIN Blue Button) for an adjudicated claim.

Built from the same :class:`~careledger.payer.x12.remit835.RemittanceItem` the 835 is written
from, so the EOB and the 835 carry the same numbers: ``total`` submitted / eligible / paid to
provider / member liability are ``CLP03`` / the sum of ``AMT*B6`` / ``CLP04`` / ``CLP05``; per
item, submitted / eligible / paid are ``SVC02`` / ``AMT*B6`` / ``SVC03``, and every CAS
adjustment is an adjudication with its CARC as the reason (group ``PR`` as member liability:
deductible, copay, coinsurance by CARC 1 / 3 / 2). Profile
``C4BB-ExplanationOfBenefit-Professional-NonClinician`` (or ``-Inpatient-Institutional``).

The EOB is for the member's own access API; the patient is referenced by the reference the
caller gives (the payer's FHIR Patient), never by anything from the ledger.
"""

from __future__ import annotations

from typing import Any

from careledger.contracts.payer.model import Adjustment
from careledger.payer.x12.remit835 import RemittanceItem

C4BB = "http://hl7.org/fhir/us/carin-bb/StructureDefinition"
CATEGORY = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB_ADJ = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
PR_CATEGORY = {"1": "deductible", "2": "coinsurance", "3": "copay"}


def _money(cents: int) -> dict[str, Any]:
    return {"value": round(cents / 100, 2), "currency": "USD"}


def _amount(system: str, code: str, cents: int) -> dict[str, Any]:
    return {"category": {"coding": [{"system": system, "code": code}]}, "amount": _money(cents)}


def _adjustment(adjustment: Adjustment) -> dict[str, Any]:
    if adjustment.group == "PR":
        code = PR_CATEGORY.get(adjustment.reason, "memberliability")
        system = CATEGORY if code in PR_CATEGORY.values() else C4BB_ADJ
    else:
        system, code = C4BB_ADJ, "noncovered"
    entry = _amount(system, code, adjustment.amount_cents)
    entry["reason"] = {
        "coding": [{"system": CARC, "code": adjustment.reason, "display": adjustment.group}]
    }
    return entry


def explanation_of_benefit(
    item: RemittanceItem, *, patient: str, insurer: str, provider: str
) -> dict[str, Any]:
    """A CARIN Blue Button ExplanationOfBenefit for one adjudicated claim."""
    adjudication, claim = item.adjudication, item.claim
    institutional = claim.kind == "institutional"
    profile = (
        "C4BB-ExplanationOfBenefit-Inpatient-Institutional"
        if institutional
        else "C4BB-ExplanationOfBenefit-Professional-NonClinician"
    )
    billed = {line.line: line for line in claim.lines}
    items = []
    for line in adjudication.lines:
        source = billed.get(line.line)
        system, code = line.code.split(":", 1)
        coding = {
            "system": "http://www.ama-assn.org/go/cpt"
            if system == "HC"
            else "https://www.nubc.org/CodeSystem/RevenueCodes",
            "code": code,
        }
        entry: dict[str, Any] = {
            "sequence": line.line,
            "productOrService": {"coding": [coding]},
            "quantity": {"value": source.units if source else line.units_paid},
            "adjudication": [
                _amount(CATEGORY, "submitted", line.charge_cents),
                _amount(CATEGORY, "eligible", line.allowed_cents),
                _amount(C4BB_ADJ, "paidtoprovider", line.paid_cents),
                *[_adjustment(a) for a in line.adjustments],
            ],
        }
        if line.modifiers:
            entry["modifier"] = [{"coding": [{"code": m}]} for m in line.modifiers]
        if source is not None:
            entry["servicedPeriod"] = {
                "start": source.service_from,
                "end": source.service_to or source.service_from,
            }
        items.append(entry)
    allowed = sum(line.allowed_cents for line in adjudication.lines)
    outcome = {"4": "error", "22": "complete"}.get(adjudication.status, "complete")
    if adjudication.disposition == "pended":
        outcome = "queued"
    return {
        "resourceType": "ExplanationOfBenefit",
        "meta": {"profile": [f"{C4BB}/{profile}"]},
        "identifier": [
            {
                "type": {"coding": [{"system": f"{C4BB}/C4BBIdentifierType", "code": "uc"}]},
                "value": adjudication.payer_claim_control_number,
            }
        ],
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "institutional" if institutional else "professional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": patient},
        "billablePeriod": {
            "start": min(line.service_from for line in claim.lines),
            "end": max(line.service_to or line.service_from for line in claim.lines),
        },
        "insurer": {"identifier": {"value": insurer}},
        "provider": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": provider}},
        "outcome": outcome,
        "insurance": [{"focal": True, "coverage": {"display": adjudication.plan or "none"}}],
        "item": items,
        "total": [
            _amount(CATEGORY, "submitted", adjudication.total_charge_cents),
            _amount(CATEGORY, "eligible", allowed),
            _amount(C4BB_ADJ, "paidtoprovider", adjudication.paid_cents),
            _amount(C4BB_ADJ, "memberliability", adjudication.patient_responsibility_cents),
        ],
        "payment": {"amount": _money(adjudication.paid_cents)},
    }
