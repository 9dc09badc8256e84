"""A synthetic payer workload shared by the payer demo chapter, ``careledger bench payer`` and the
tests: a benefit plan covering the synthetic 837P's codes, the members' coverages, and an 837P
of N claims addressed to a consortium organisation (built on
:func:`careledger.payer.x12.bench.synthetic_claims`, with member handles the payer's node
computes from its member secret).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from careledger.contracts.payer.benefits import Benefit, BenefitPlan, Coverage
from careledger.contracts.payer.model import Claim, day_number
from careledger.payer.x12.bench import synthetic_claims
from careledger.payer.x12.claim837_map import ClaimDirectory
from careledger.payer.x12.emit837 import write_837
from careledger.payer.x12.offchain import ClaimOffChain
from careledger.payer.x12.writer import Envelope, Party

PLAN_ID = "gold"
YEAR = 2026
SUBMITTER_ID = "TGJ23"


def benefit_plan(payer: str, *, plan: str = PLAN_ID, prior_auth: Sequence[str] = ()) -> BenefitPlan:
    """A plan with a fee schedule for every code of the synthetic 837P (and ``prior_auth``
    codes, e.g. ``HC:72148``, that need an authorization)."""
    benefits = [
        Benefit("HC:99213", 10_000, copay_cents=2_500),
        Benefit("HC:99214", 14_000, copay_cents=2_500),
        Benefit("HC:87070", 2_000),
        Benefit("HC:86663", 3_000),
        Benefit("HC:93000", 4_000),
        Benefit("HC:J1100", 300),
        Benefit("HC:73560", 8_000),
        Benefit("HC:G0439", 12_000, deductible_applies=False),  # annual wellness visit
        *[Benefit(code, 90_000, prior_auth=True) for code in prior_auth],
    ]
    return BenefitPlan(
        plan=plan,
        payer=payer,
        deductible_cents=20_000,
        oop_max_cents=300_000,
        coinsurance_bp=2_000,
        timely_filing_days=730,
        benefits=sorted(benefits, key=lambda b: b.code),
    )


def coverage(handle: str, *, plan: str = PLAN_ID) -> Coverage:
    return Coverage(handle, plan, day_number(f"{YEAR}-01-01"), day_number(f"{YEAR}-12-31"))


def payer_claims(
    count: int, payer: str, payer_id: str, directory: ClaimDirectory
) -> list[tuple[Claim, ClaimOffChain]]:
    """``count`` synthetic professional claims addressed to ``payer`` (NM1*PR ``payer_id``),
    members' handles from ``directory``."""
    out = []
    for claim, off in synthetic_claims(count):
        handle = directory.member_handle(payer, off.parties.member_id)
        assert handle is not None
        submission = msgspec.structs.replace(off.submission, receiver_id=payer_id)
        out.append(
            (
                msgspec.structs.replace(claim, payer=payer, member=handle),
                msgspec.structs.replace(off, payer_id=payer_id, submission=submission),
            )
        )
    return out


def claims_837(claims: Sequence[tuple[Claim, ClaimOffChain]], payer_id: str, seed: bytes) -> bytes:
    """The claims as one 837P interchange (100 claims per transaction set)."""
    out = io.BytesIO()
    envelope = Envelope(
        sender=Party("ZZ", SUBMITTER_ID),
        receiver=Party("ZZ", payer_id),
        moment=datetime(YEAR, 3, 2, 9, 30),
        seed=seed,
    )
    write_837(out, envelope, claims)
    return out.getvalue()


CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"


def pas_request(
    *,
    payer: str,
    member_system: str,
    member_id: str,
    code: str = "72148",
    units: int = 1,
    claim_id: str | None = None,
    claim_system: str = "urn:careledger:pa",
    provider: str = "Clinic",
    coverage: str = PLAN_ID,
    patient_name: tuple[str, str] | None = None,
    birth_date: str | None = None,
) -> dict[str, Any]:
    """A synthetic Da Vinci PAS request Bundle: a Claim (``use=preauthorization``) for ``units``
    of CPT ``code`` from 10 March to 10 April 2026, the Patient by member id, the provider
    Organization; a fresh Bundle identifier (and Claim identifier unless ``claim_id``)."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [
            {"type": {"coding": [{"code": "MB"}]}, "system": member_system, "value": member_id}
        ],
    }
    if patient_name is not None:
        patient["name"] = [{"family": patient_name[0], "given": [patient_name[1]]}]
    if birth_date is not None:
        patient["birthDate"] = birth_date
    claim = {
        "resourceType": "Claim",
        "identifier": [{"system": claim_system, "value": claim_id or str(uuid.uuid4())}],
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "preauthorization",
        "patient": {"reference": "urn:uuid:patient"},
        "created": "2026-03-02T10:00:00Z",
        "insurer": {"identifier": {"system": "urn:careledger:org", "value": payer}},
        "provider": {"reference": "urn:uuid:provider"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": coverage}}],
        "item": [
            {
                "sequence": 1,
                "productOrService": {
                    "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]
                },
                "servicedPeriod": {"start": "2026-03-10", "end": "2026-04-10"},
                "quantity": {"value": units},
            }
        ],
    }
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "collection",
        "timestamp": "2026-03-02T10:00:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:claim", "resource": claim},
            {"fullUrl": "urn:uuid:patient", "resource": patient},
            {
                "fullUrl": "urn:uuid:provider",
                "resource": {"resourceType": "Organization", "name": provider},
            },
        ],
    }
