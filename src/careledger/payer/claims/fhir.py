"""A FHIR ``Claim`` (use=claim) to the canonical claim model, and its ``ClaimResponse``.

The request is a Bundle (``type=collection``) with the Claim first and the resources it
references by ``fullUrl`` — the Patient (member id as an identifier of type ``MB``, name, birth
date, sex) and the billing provider (an Organization or Practitioner with an NPI) — the shape
of a PAS request, so a provider sends claims and prior authorizations the same way. The
mapper keeps the PHI off chain: the member id becomes the payer's keyed handle
(:func:`careledger.payer.pas.member_handle`), the people go to :class:`ClaimParties`.

A replacement names the original by ``related`` (relationship ``prior``, ``reference`` its payer
claim control number); a void is such a Claim with ``status = cancelled`` (X12 frequency 7 and
8). Money is decimal dollars in FHIR and integer cents here: a value with more than two decimals,
a negative one or one that is not a number is refused naming the path (``Bundle.entry[0]
.resource.item[1].net.value``), like every other fault (:class:`PasBundleInvalid`, HTTP 400 with
an OperationOutcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from careledger.contracts.payer.model import (
    Claim,
    ClaimAdjudication,
    ClaimLine,
    ClaimParties,
    OtherCoverage,
)
from careledger.errors import InvalidInput
from careledger.fhir.errors import Issue
from careledger.payer.ledger_form import check_claim
from careledger.payer.pas.bundles import PasBundleInvalid, member_handle

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
CONTROL_SYSTEM = "urn:careledger:payer-claim-control-number"
"""``CLP07``: the payer claim control number of the adjudication."""
CLAIM_KEY_SYSTEM = "urn:careledger:claim-key"
"""The claim's ledger key (a keyed hash), which the review route takes."""
_CLAIM = "Bundle.entry[0].resource"
_RESPONSIBILITY = {1: "primary", 2: "secondary", 3: "tertiary"}
_GENDER = {"male": "M", "female": "F"}


@dataclass(frozen=True)
class FhirClaim:
    """What the intake takes from a FHIR claim Bundle."""

    claim: Claim
    parties: ClaimParties


def claim_use(body: Any) -> str | None:
    """``Claim.use`` of a request body (a Bundle with the Claim first, or a bare Claim)."""
    if not isinstance(body, dict):
        return None
    resource: Any = body
    if body.get("resourceType") == "Bundle":
        entries = body.get("entry")
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            return None
        resource = entries[0].get("resource")
        if not isinstance(resource, dict):
            return None
    if resource.get("resourceType") != "Claim":
        return None
    use = resource.get("use")
    return use if isinstance(use, str) else None


def _fail(message: str, where: str) -> PasBundleInvalid:
    return PasBundleInvalid([Issue("invalid", message, where)])


def _get(node: Any, key: str, where: str, kind: type = dict) -> Any:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, kind):
        raise _fail(f"{key} is required ({kind.__name__})", f"{where}.{key}")
    return value


def cents(value: Any, where: str) -> int:
    """Decimal dollars (a JSON number) as integer cents; refuses negatives, floats beyond two
    decimals and anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail("a money value is a number", where)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _fail("a money value is a number", where) from None
    if not amount.is_finite() or amount < 0:
        raise _fail("a money value is a non-negative number", where)
    scaled = amount * 100
    if scaled != scaled.to_integral_value():
        raise _fail("a money value has at most two decimals (whole cents)", where)
    return int(scaled)


def _code(concept: Any, where: str) -> str:
    codings = _get(concept, "coding", where, list)
    if (
        not codings
        or not isinstance(codings[0], dict)
        or not isinstance(codings[0].get("code"), str)
    ):
        raise _fail("a coding with a code is required", f"{where}.coding[0].code")
    return str(codings[0]["code"])


def _resolve(entries: list[Any], reference: Any, where: str) -> dict[str, Any]:
    ref = reference.get("reference") if isinstance(reference, dict) else None
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("fullUrl") == ref:
            resource = entry.get("resource")
            if isinstance(resource, dict):
                return resource
            raise _fail("the entry has no resource", f"Bundle.entry[{i}].resource")
    raise _fail(f"{ref!r} names no entry of the Bundle", f"{where}.reference")


def _npi(entries: list[Any], reference: Any, where: str) -> str:
    identifiers = reference.get("identifier") if isinstance(reference, dict) else None
    if identifiers is None and isinstance(reference, dict) and "reference" in reference:
        identifiers = _resolve(entries, reference, where).get("identifier")
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    for identifier in identifiers or []:
        if isinstance(identifier, dict) and identifier.get("system") == NPI_SYSTEM:
            return str(identifier.get("value"))
    raise _fail(f"an identifier with system {NPI_SYSTEM}", f"{where}.identifier")


def _member(patient: dict[str, Any], where: str) -> tuple[str, str]:
    identifiers = _get(patient, "identifier", where, list)
    chosen = None
    for identifier in identifiers:
        if not isinstance(identifier, dict):
            continue
        codes = [
            c.get("code")
            for c in (identifier.get("type") or {}).get("coding", [])
            if isinstance(c, dict)
        ]
        if "MB" in codes or chosen is None:
            chosen = identifier
    if chosen is None or not isinstance(chosen.get("value"), str) or not chosen["value"]:
        raise _fail("the member id (identifier of type MB) is required", f"{where}.identifier")
    system = chosen.get("system") if isinstance(chosen.get("system"), str) else ""
    return str(system), str(chosen["value"])


def _parties(patient: dict[str, Any], member_id: str) -> ClaimParties:
    names = patient.get("name") if isinstance(patient.get("name"), list) else []
    name = names[0] if names and isinstance(names[0], dict) else {}
    given = name.get("given") if isinstance(name.get("given"), list) else []
    birth = str(patient.get("birthDate") or "")
    return ClaimParties(
        member_id=member_id,
        subscriber_last=str(name.get("family") or ""),
        subscriber_first=str(given[0]) if given else "",
        birth_date=birth,
        gender=_GENDER.get(str(patient.get("gender")), "U"),  # type: ignore[arg-type]
    )


def _line(item: Any, where: str) -> ClaimLine:
    if not isinstance(item, dict):
        raise _fail("an item is an object", where)
    sequence = _get(item, "sequence", where, int)
    quantity = item.get("quantity", {"value": 1})
    units = quantity.get("value") if isinstance(quantity, dict) else None
    if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= 9999:
        raise _fail("whole units from 1 to 9999", f"{where}.quantity.value")
    if "net" in item:
        charge = cents(_get(item, "net", where).get("value"), f"{where}.net.value")
    else:
        price = cents(_get(item, "unitPrice", where).get("value"), f"{where}.unitPrice.value")
        charge = price * units
    period = item.get("servicedPeriod")
    if isinstance(item.get("servicedDate"), str):
        start, end = item["servicedDate"], None
    elif isinstance(period, dict) and isinstance(period.get("start"), str):
        start, end = period["start"], period.get("end")
    else:
        raise _fail("servicedDate or servicedPeriod.start is required", f"{where}.servicedDate")
    fields: dict[str, Any] = {
        "line": sequence,
        "procedure_code": _code(item.get("productOrService"), f"{where}.productOrService"),
        "charge_cents": charge,
        "units": units,
        "service_from": start,
        "service_to": end if end != start else None,
        "modifiers": [
            _code(m, f"{where}.modifier[{i}]") for i, m in enumerate(item.get("modifier") or [])
        ],
    }
    if isinstance(item.get("locationCodeableConcept"), dict):
        fields["place_of_service"] = _code(
            item["locationCodeableConcept"], f"{where}.locationCodeableConcept"
        )
    if isinstance(item.get("revenue"), dict):
        fields["revenue_code"] = _code(item["revenue"], f"{where}.revenue")
    try:
        return msgspec.convert(fields, ClaimLine)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc), where) from None


def _insurance(claim: dict[str, Any]) -> tuple[str, str | None, list[OtherCoverage]]:
    """(this payer's responsibility, its preAuthRef, the other payers declared)."""
    responsibility, pa, others = "primary", None, []
    for i, entry in enumerate(claim.get("insurance") or []):
        where = f"{_CLAIM}.insurance[{i}]"
        if not isinstance(entry, dict):
            raise _fail("an insurance is an object", where)
        place = _RESPONSIBILITY.get(entry.get("sequence"), "primary")  # type: ignore[arg-type]
        if entry.get("focal") is True:
            responsibility = place
            refs = entry.get("preAuthRef") or []
            pa = str(refs[0]) if refs else None
            continue
        coverage = entry.get("coverage") if isinstance(entry.get("coverage"), dict) else {}
        identifier = coverage.get("identifier") if isinstance(coverage, dict) else None
        payer = identifier.get("value") if isinstance(identifier, dict) else None
        if not isinstance(payer, str):
            raise _fail("the other payer's id is required", f"{where}.coverage.identifier.value")
        others.append(
            OtherCoverage(payer=payer, responsibility=place, relationship="self")  # type: ignore[arg-type]
        )
    return responsibility, pa, others


def _frequency(claim: dict[str, Any]) -> tuple[str, str | None]:
    """(X12 claim frequency, original payer claim control number): a Claim with ``related``
    (relationship ``prior``, ``reference`` the original's payer claim control number) replaces
    it (7); with ``status = cancelled`` as well it voids it (8); otherwise an original (1)."""
    original = None
    for i, related in enumerate(claim.get("related") or []):
        where = f"{_CLAIM}.related[{i}]"
        if not isinstance(related, dict):
            raise _fail("a related claim is an object", where)
        if _code(related.get("relationship"), f"{where}.relationship") != "prior":
            continue
        value = (related.get("reference") or {}).get("value")
        if not isinstance(value, str):
            raise _fail("the original's payer claim control number", f"{where}.reference.value")
        original = value
    cancelled = claim.get("status") == "cancelled"
    if cancelled and original is None:
        raise _fail("a cancellation names the claim it voids (related, prior)", f"{_CLAIM}.related")
    if original is None:
        return "1", None
    return ("8" if cancelled else "7"), original


def parse_claim(body: Any, payer: str, member_secret: bytes) -> FhirClaim:
    """The canonical claim and its people from a FHIR claim Bundle addressed to ``payer``."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise _fail("a Bundle with the Claim first", "Bundle")
    if body.get("type") != "collection":
        raise _fail("type is collection", "Bundle.type")
    entries = _get(body, "entry", "Bundle", list)
    claim = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    if not isinstance(claim, dict) or claim.get("resourceType") != "Claim":
        raise _fail("the first entry is the Claim", "Bundle.entry[0].resource")
    if claim.get("use") != "claim":
        raise _fail("use is claim", f"{_CLAIM}.use")
    identifiers = _get(claim, "identifier", _CLAIM, list)
    claim_id = identifiers[0].get("value") if isinstance(identifiers[0], dict) else None
    if not isinstance(claim_id, str):
        raise _fail("the claim number is required", f"{_CLAIM}.identifier[0].value")
    insurer = _get(_get(claim, "insurer", _CLAIM), "identifier", f"{_CLAIM}.insurer")
    if insurer.get("value") != payer:
        raise _fail(f"this endpoint is {payer}'s", f"{_CLAIM}.insurer.identifier.value")
    patient = _resolve(entries, _get(claim, "patient", _CLAIM), f"{_CLAIM}.patient")
    system, member_id = _member(patient, "Patient")
    kind = _code(_get(claim, "type", _CLAIM), f"{_CLAIM}.type")
    if kind not in ("professional", "institutional"):
        raise _fail("type is professional or institutional", f"{_CLAIM}.type.coding[0].code")
    items = _get(claim, "item", _CLAIM, list)
    lines = [_line(item, f"{_CLAIM}.item[{i}]") for i, item in enumerate(items)]
    total = sum(line.charge_cents for line in lines)
    if "total" in claim:
        total = cents(_get(claim, "total", _CLAIM).get("value"), f"{_CLAIM}.total.value")
    responsibility, pa, others = _insurance(claim)
    diagnoses = [
        _code(d.get("diagnosisCodeableConcept"), f"{_CLAIM}.diagnosis[{i}]").replace(".", "")
        for i, d in enumerate(claim.get("diagnosis") or [])
        if isinstance(d, dict)
    ]
    frequency, original = _frequency(claim)
    fields: dict[str, Any] = {
        "claim_id": claim_id,
        "frequency_code": frequency,
        "original_reference": original,
        "kind": kind,
        "member": member_handle(member_secret, system, member_id),
        "payer": payer,
        "billing_npi": _npi(entries, claim.get("provider"), f"{_CLAIM}.provider"),
        "lines": lines,
        "total_charge_cents": total,
        "responsibility": responsibility,
        "diagnoses": diagnoses,
        "prior_authorization": pa,
        "other_coverage": others,
        "created": str(claim["created"])[:10] if isinstance(claim.get("created"), str) else None,
    }
    try:
        canonical = msgspec.convert(fields, Claim, from_attributes=True)
        check_claim(canonical)
    except (msgspec.ValidationError, InvalidInput) as exc:
        raise _fail(str(exc), _CLAIM) from None
    return FhirClaim(canonical, _parties(patient, member_id))


def _money(cents_: int) -> dict[str, Any]:
    return {"value": round(cents_ / 100, 2), "currency": "USD"}


def claim_response(adjudication: ClaimAdjudication, claim: Claim) -> dict[str, Any]:
    """The ``ClaimResponse`` of an adjudicated claim (the same amounts as its 835 and EOB)."""
    outcome = {
        "processed": "complete",
        "denied": "complete",
        "pended": "queued",
        "reversed": "complete",
    }
    return {
        "resourceType": "ClaimResponse",
        "identifier": [
            {"system": CONTROL_SYSTEM, "value": adjudication.payer_claim_control_number},
            {"system": CLAIM_KEY_SYSTEM, "value": adjudication.claim_key},
        ],
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": claim.kind,
                }
            ]
        },
        "use": "claim",
        "request": {"identifier": {"value": claim.claim_id}},
        "insurer": {"identifier": {"value": adjudication.payer}},
        "outcome": outcome.get(adjudication.disposition, "complete"),
        "disposition": adjudication.disposition,
        "item": [
            {
                "itemSequence": line.line,
                "adjudication": [
                    {"category": {"coding": [{"code": "submitted"}]}, **_amt(line.charge_cents)},
                    {"category": {"coding": [{"code": "eligible"}]}, **_amt(line.allowed_cents)},
                    {"category": {"coding": [{"code": "benefit"}]}, **_amt(line.paid_cents)},
                    *[
                        {
                            "category": {"coding": [{"code": a.group}]},
                            "reason": {"coding": [{"code": a.reason}]},
                            **_amt(a.amount_cents),
                        }
                        for a in line.adjustments
                    ],
                ],
            }
            for line in adjudication.lines
        ],
        "total": [
            {
                "category": {"coding": [{"code": "submitted"}]},
                **_amt(adjudication.total_charge_cents),
            },
            {"category": {"coding": [{"code": "benefit"}]}, **_amt(adjudication.paid_cents)},
            {
                "category": {"coding": [{"code": "memberliability"}]},
                **_amt(adjudication.patient_responsibility_cents),
            },
        ],
        "payment": {"amount": _money(adjudication.paid_cents)},
    }


def _amt(cents_: int) -> dict[str, Any]:
    return {"amount": _money(cents_)}
