"""A synthetic payer workload shared by the payer demo chapter, ``careledger bench payer`` and the
tests: a benefit plan covering the synthetic 837P's codes, the members' coverages, and an 837P
of N claims addressed to a consortium organisation (built on
:func:`careledger.payer.x12.bench.synthetic_claims`, with member handles the payer's node
computes from its member secret).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

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
