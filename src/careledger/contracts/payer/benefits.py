"""Benefit plans, coverage and accumulators: the values the ``plans`` and ``claims`` contracts
store and the adjudication engine reads.

A :class:`BenefitPlan` is what a payer publishes: the fee schedule (one :class:`Benefit` per
covered billing code: allowed amount per unit, copay, coinsurance override, whether the
deductible applies, whether prior authorization is needed), codes it excludes, the deductible,
default coinsurance (basis points), out-of-pocket maximum, timely-filing limit and the month its
plan year starts. A :class:`Coverage` links a member's pseudonymous handle to a plan for a period
(day numbers, inclusive), with the member's relationship to the subscriber (for coordination of
benefits) and optionally the status-list entry of the member's coverage credential. An
:class:`Accumulator` holds what the member has paid toward the deductible and out-of-pocket
maximum in one plan year, as the sums of PR 1 (deductible), PR 3 (copay) and PR 2 (coinsurance).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import msgspec

from careledger.contracts.payer.values import BillingCode, Cents, Day, Relationship
from careledger.contracts.phi_guard import Handle, OrgId

PlanId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
BasisPoints = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
StatusListUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=200, pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[A-Za-z0-9._~/-]*$"
    ),
]


class Benefit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One covered service of a plan's fee schedule."""

    code: BillingCode
    allowed_cents: Cents
    """Allowed amount per unit (the line's allowed is the lesser of charge and units times this)."""
    copay_cents: Cents = 0
    """Copay per line (PR 3), after the deductible."""
    coinsurance_bp: BasisPoints | None = None
    """Coinsurance for this code in basis points (None: the plan's default)."""
    deductible_applies: bool = True
    """False for services the deductible does not apply to (preventive care, ACA §2713)."""
    prior_auth: bool = False
    """True when the service needs an approved prior authorization (else CO 197)."""


class BenefitPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A benefit plan as its payer publishes it."""

    plan: PlanId
    payer: OrgId
    """The organisation that owns the plan; only it may change it or enrol members."""
    deductible_cents: Cents
    oop_max_cents: Cents
    """Out-of-pocket maximum: deductible, copays and coinsurance together stop at this."""
    coinsurance_bp: BasisPoints
    """Default coinsurance (PR 2) in basis points: 2000 is 20 %."""
    timely_filing_days: Annotated[int, msgspec.Meta(ge=1, le=3650)]
    """Days from the last date of service within which the claim must be received (else CO 29)."""
    benefits: Annotated[list[Benefit], msgspec.Meta(min_length=1, max_length=5000)]
    """The fee schedule: covered codes, unique, ascending."""
    excluded: Annotated[list[BillingCode], msgspec.Meta(max_length=5000)] = msgspec.field(
        default_factory=list
    )
    """Codes the plan excludes (CO 96); a code neither covered nor excluded gets CO 204."""
    year_start_month: Annotated[int, msgspec.Meta(ge=1, le=12)] = 1
    """The plan year starts on the first day of this month (1: calendar year)."""


class PlanRecord(msgspec.Struct, frozen=True):
    """A published plan with its version (``plan/<plan id>`` in the ``plans`` contract)."""

    plan: BenefitPlan
    version: Annotated[int, msgspec.Meta(ge=1)]
    published_at: Annotated[int, msgspec.Meta(ge=0)]


class CredentialStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the member's coverage credential's revocation bit is (its ``credentialStatus``)."""

    list_url: StatusListUrl
    index: Annotated[int, msgspec.Meta(ge=0, le=1_048_575)]


class Coverage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A member covered by a plan (``coverage/<member>/<plan>`` in the ``plans`` contract)."""

    member: Handle
    plan: PlanId
    start: Day
    end: Day
    """Inclusive coverage period."""
    relationship: Relationship = "self"
    """The member's relationship to the subscriber: decides COB order (docs/payer.md)."""
    credential: CredentialStatus | None = None
    """The coverage credential's status entry: once revoked, the coverage no longer counts."""


class CoverageRecord(msgspec.Struct, frozen=True):
    """A coverage as stored, with the payer copied from its plan."""

    coverage: Coverage
    payer: OrgId
    enrolled_at: Annotated[int, msgspec.Meta(ge=0)]


class TradingPartner(msgspec.Struct, frozen=True):
    """An organisation a payer accepts claims from (``partner/<payer>/<org>`` in ``plans``):
    the ledger's form of the trading-partner agreement behind every 837 a payer accepts."""

    payer: OrgId
    submitter: OrgId
    active: bool
    changed_at: Annotated[int, msgspec.Meta(ge=0)]


class Accumulator(msgspec.Struct, frozen=True):
    """A member's cost sharing in one plan year
    (``accumulator/<member>/<plan>/<year>`` in the ``claims`` contract)."""

    deductible_cents: Cents = 0
    """Sum of PR 1."""
    copay_cents: Cents = 0
    """Sum of PR 3."""
    coinsurance_cents: Cents = 0
    """Sum of PR 2."""

    @property
    def out_of_pocket_cents(self) -> int:
        return self.deductible_cents + self.copay_cents + self.coinsurance_cents


def plan_year(plan: BenefitPlan, day: int) -> int:
    """The plan year (labelled by the calendar year it starts in) that ``day`` falls in."""
    when = date(1970, 1, 1) + timedelta(days=day)
    return when.year if when.month >= plan.year_start_month else when.year - 1


def benefit_for(plan: BenefitPlan, code: str) -> Benefit | None:
    """The plan's benefit for ``code`` (binary search: the fee schedule is sorted)."""
    lo, hi = 0, len(plan.benefits)
    while lo < hi:
        mid = (lo + hi) // 2
        if plan.benefits[mid].code < code:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(plan.benefits) and plan.benefits[lo].code == code:
        return plan.benefits[lo]
    return None


def coverage_key(member: str, plan: str) -> str:
    return f"coverage/{member}/{plan}"


def partner_key(payer: str, submitter: str) -> str:
    return f"partner/{payer}/{submitter}"


def accumulator_key(member: str, plan: str, year: int) -> str:
    return f"accumulator/{member}/{plan}/{year}"
