"""Map one 837 claim, as the reader collected it, to the canonical claim and its off-chain part.

The reader (:mod:`careledger.payer.x12.claim837`) checks X12 structure; this module checks what
makes a claim adjudicable here: the payer is one of ours, the member is known, the line charges
add up to ``CLM02``, every line has a date of service and whole units, and the canonical model
accepts every code. A failure is a :class:`Refused` with the 277CA status it earns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from careledger.contracts.payer.model import Claim, ClaimParties
from careledger.payer.x12.elements import cents, iso, whole_units
from careledger.payer.x12.offchain import Address, ClaimOffChain, ProviderParty, SubmissionHeader

PROFESSIONAL = "005010X222A1"
_RESPONSIBILITY = {"P": "primary", "S": "secondary", "T": "tertiary"}
_RELATIONSHIP = {"18": "self", "01": "spouse", "19": "child"}


class ClaimDirectory(Protocol):
    """What the mapper must ask the payer side (the node's off-chain member index)."""

    def payer_org(self, payer_id: str) -> str | None:
        """The consortium organisation for an ``NM1*PR`` payer id, or None if not one of ours."""
        ...

    def member_handle(self, payer_org: str, member_id: str) -> str | None:
        """The member's pseudonymous handle at that payer, or None if not a member."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimRejection:
    """Why a claim is not accepted into adjudication: 277CA ``STC01`` category:status[:entity]."""

    category: str  # A3 returned as unprocessable, A6 missing, A7 invalid information
    status: str  # code list 508: 21 missing/invalid information, 116 wrong payer, 400 balance
    text: str
    entity: str = ""


class Refused(Exception):
    def __init__(self, rejection: ClaimRejection) -> None:
        super().__init__(rejection.text)
        self.rejection = rejection


@dataclass(frozen=True, slots=True)
class ClaimPeople:
    """Names and ids a 277CA repeats (PHI, transient)."""

    patient_last: str
    patient_first: str
    member_id: str
    billing_name: str
    billing_npi: str
    payer_name: str
    payer_id: str
    submitter_name: str
    submitter_id: str
    reference: str  # BHT03 of the 837


@dataclass(slots=True)
class ParsedClaim:
    """One claim as read: the canonical claim and its off-chain part, or why it was refused."""

    claim_id: str
    charge_cents: int
    service_from: str
    service_to: str
    set_control: str
    #: For the 277CA, which names the patient and billing provider even for a refused claim.
    people: ClaimPeople
    claim: Claim | None = None
    offchain: ClaimOffChain | None = None
    rejection: ClaimRejection | None = None


def claim_people(
    header: dict[str, str],
    billing: dict[str, Any],
    subscriber: dict[str, Any],
    payer: dict[str, Any],
    patient: dict[str, Any],
) -> ClaimPeople:
    """The names and ids a 277CA repeats, from what the reader collected (``patient`` is the
    subscriber's fields when the patient is the subscriber)."""
    return ClaimPeople(
        patient_last=patient.get("name", ""),
        patient_first=patient.get("first", ""),
        member_id=subscriber.get("id", ""),
        billing_name=billing.get("name", ""),
        billing_npi=billing.get("id", ""),
        payer_name=payer.get("name", ""),
        payer_id=payer.get("id", ""),
        submitter_name=header.get("submitter_name", ""),
        submitter_id=header.get("submitter_id", ""),
        reference=header.get("reference", ""),
    )


@dataclass(frozen=True, slots=True)
class RawClaim:
    """What the reader collected for one claim (element values as written)."""

    version: str
    component: str
    header: dict[str, str]
    billing: dict[str, Any]
    subscriber: dict[str, Any]
    payer: dict[str, Any]
    patient: dict[str, Any] | None
    claim: dict[str, Any]


def map_claim(raw: RawClaim, directory: ClaimDirectory) -> tuple[Claim, ClaimOffChain]:
    """The canonical claim and its off-chain part; :class:`Refused` (or a model error) if not."""
    institutional = raw.version != PROFESSIONAL
    payer_id = str(raw.payer.get("id", ""))
    org = directory.payer_org(payer_id)
    if org is None:
        raise Refused(ClaimRejection("A3", "116", f"payer {payer_id!r} is not served here", "PR"))
    member_id = str(raw.subscriber.get("id", ""))
    handle = directory.member_handle(org, member_id)
    if handle is None:
        raise Refused(ClaimRejection("A3", "33", "subscriber not found at this payer", "IL"))
    clm = raw.claim
    facility: list[str] = clm["facility"]
    claim_dates = clm["dates"].get("472") or clm["dates"].get("434")
    lines = [_line(raw, line, claim_dates, institutional) for line in clm["lines"]]
    total = cents(clm["charge"])
    billed = sum(line["charge_cents"] for line in lines)
    if billed != total:
        raise Refused(
            ClaimRejection("A7", "400", f"CLM02 {total} cents but the lines add to {billed}")
        )
    statement = clm["dates"].get("434")
    claim_fields: dict[str, Any] = {
        "claim_id": clm["claim_id"],
        "kind": "institutional" if institutional else "professional",
        "member": handle,
        "payer": org,
        "billing_npi": raw.billing.get("id", ""),
        "lines": lines,
        "total_charge_cents": total,
        "frequency_code": facility[2] if len(facility) > 2 else "1",
        "responsibility": _RESPONSIBILITY.get(raw.subscriber.get("responsibility", ""), "primary"),
        "diagnoses": clm["diagnoses"],
        "other_coverage": [_other(other, raw.component) for other in clm["other"]],
    }
    if clm.get("rendering_npi"):
        claim_fields["rendering_npi"] = clm["rendering_npi"]
    claim_fields["facility_type" if institutional else "place_of_service"] = facility[0]
    for key in ("prior_authorization", "original_reference"):
        if clm.get(key):
            claim_fields[key] = clm[key]
    if raw.header.get("created"):
        claim_fields["created"] = iso(raw.header["created"])
    if statement:
        claim_fields["statement_from"] = iso(statement[0])
        claim_fields["statement_to"] = iso(statement[1])
    claim = msgspec.convert(claim_fields, Claim)
    return claim, _offchain(raw, member_id)


def _line(
    raw: RawClaim, line: dict[str, Any], claim_dates: Any, institutional: bool
) -> dict[str, Any]:
    seg = line["service"]
    if seg is None:
        raise Refused(ClaimRejection("A6", "21", f"line {line['number']} has no service"))
    comp = raw.component
    if institutional:
        revenue, product, charge, units = seg.get(1), seg.get(2), seg.get(3), seg.get(5)
    else:
        revenue, product, charge, units = "", seg.get(1), seg.get(2), seg.get(4)
    parts = product.split(comp) if product else []
    if parts and parts[0] != "HC":
        raise Refused(ClaimRejection("A7", "21", f"line {line['number']}: qualifier {parts[0]}"))
    dates = line["dates"] or claim_dates
    if not dates:
        raise Refused(ClaimRejection("A6", "21", f"line {line['number']} has no date of service"))
    out: dict[str, Any] = {
        "line": int(line["number"]) if line["number"].isdigit() else 0,
        "procedure_code": parts[1] if len(parts) > 1 else None,
        "charge_cents": cents(charge),
        "units": whole_units(units or "1"),
        "service_from": iso(dates[0]),
        "modifiers": [m for m in parts[2:6] if m],
    }
    if dates[1] != dates[0]:
        out["service_to"] = iso(dates[1])
    if revenue:
        out["revenue_code"] = revenue
    if not institutional:
        if seg.get(5):
            out["place_of_service"] = seg.get(5)
        pointers = [p for p in seg.get(7).split(comp) if p]
        out["diagnosis_pointers"] = [int(p) if p.isdigit() else 0 for p in pointers]
    if line.get("rendering_npi"):
        out["rendering_npi"] = line["rendering_npi"]
    return out


def _other(other: dict[str, Any], component: str) -> dict[str, Any]:
    adjustments = []
    for cas in other["cas"]:
        group = cas[0] if cas else ""
        for at in range(1, len(cas) - 1, 3):
            if cas[at]:
                adjustments.append(
                    {"group": group, "reason": cas[at], "amount_cents": cents(cas[at + 1])}
                )
    return {
        "payer": other.get("payer", ""),
        "responsibility": _RESPONSIBILITY.get(other["responsibility"], "primary"),
        "relationship": _RELATIONSHIP.get(other["relationship"], "other"),
        "paid_cents": cents(other["paid"]) if other.get("paid") else 0,
        "adjustments": adjustments,
        "adjudicated": bool(other.get("adjudicated")),
    }


def _address(fields: dict[str, str] | None) -> Address | None:
    if not fields or not fields.get("line1"):
        return None
    return Address(
        line1=fields["line1"],
        line2=fields.get("line2", ""),
        city=fields.get("city", ""),
        state=fields.get("state", ""),
        postal_code=fields.get("postal", ""),
    )


def _offchain(raw: RawClaim, member_id: str) -> ClaimOffChain:
    sub, pat = raw.subscriber, raw.patient
    person = pat if pat is not None else sub
    relationship = (
        "self" if pat is None else _RELATIONSHIP.get(pat.get("relationship", ""), "other")
    )
    birth = person.get("birth", "")
    parties = ClaimParties(
        member_id=member_id,
        subscriber_last=sub.get("name", ""),
        subscriber_first=sub.get("first", ""),
        patient_last=pat.get("name", "") if pat else "",
        patient_first=pat.get("first", "") if pat else "",
        birth_date=iso(birth) if birth else "",
        gender="M" if person.get("gender") == "M" else "F" if person.get("gender") == "F" else "U",
        relationship=relationship,  # type: ignore[arg-type]
    )
    head = raw.header
    bill = raw.billing
    cl1 = raw.claim.get("cl1", ("", "", ""))
    return ClaimOffChain(
        parties=parties,
        billing=ProviderParty(
            name=bill.get("name", ""),
            first_name=bill.get("first", ""),
            entity_type=bill.get("type", "2") or "2",
            npi=bill.get("id", ""),
            tax_id=bill.get("tax_id", ""),
            taxonomy=bill.get("taxonomy", ""),
            address=_address(bill.get("address")),
        ),
        payer_name=raw.payer.get("name", ""),
        payer_id=raw.payer.get("id", ""),
        submission=SubmissionHeader(
            reference=head.get("reference", ""),
            created=iso(head["created"]) if head.get("created") else "",
            submitter_name=head.get("submitter_name", ""),
            submitter_id=head.get("submitter_id", ""),
            receiver_name=head.get("receiver_name", ""),
            receiver_id=head.get("receiver_id", ""),
            contact_name=head.get("contact_name", ""),
            contact_phone=head.get("contact_phone", ""),
        ),
        subscriber_address=_address(sub.get("address")),
        patient_address=_address(pat.get("address")) if pat else None,
        filing_indicator=sub.get("filing", "") or "CI",
        group_number=sub.get("group", ""),
        claim_flags=raw.claim["flags"],
        icd9_diagnoses=tuple(raw.claim["icd9"]),
        rendering=_rendering(raw.claim.get("rendering")),
        admission_type=cl1[0],
        admission_source=cl1[1],
        patient_status=cl1[2],
    )


def _rendering(names: dict[str, str] | None) -> ProviderParty | None:
    if not names:
        return None
    return ProviderParty(
        name=names.get("name", ""),
        first_name=names.get("first", ""),
        entity_type=names.get("type", "1") or "1",
        npi=names.get("id", ""),
    )
