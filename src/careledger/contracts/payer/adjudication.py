"""The adjudication engine: a pure function of a claim and what the ledger knows about it.

:func:`adjudicate` takes a :class:`~careledger.contracts.payer.values.ClaimSubmission` and an
:class:`AdjudicationInputs` (the member's coverages with the payer, the plan, the plan-year
accumulators, the prior authorization named on the claim and its units used so far, earlier lines of
the same member and codes) and returns an :class:`Outcome`: the
:class:`~careledger.contracts.payer.values.ClaimAdjudication` and what to write back. It reads no
clock, no randomness and no floats, so every endorser computes the same bytes and anyone can
re-derive a stored adjudication from the block that holds the submission.

Each line goes through, in order (the first that fails decides, and the whole charge is
adjusted with its group and CARC):

1. eligibility on the first date of service — CO 31 no coverage with this payer, CO 26 before
   coverage, CO 27 after it ended or the coverage credential was revoked;
2. duplicates — OA 18 exact duplicate of an earlier line; a *suspect* (same member and code,
   overlapping dates, something else different) pends the whole claim for review;
3. timely filing — CO 29 when received more than the plan's limit after the last date;
4. covered code — CO 96 excluded by the plan, CO 204 not on its fee schedule;
5. prior authorization when the benefit needs it — CO 197 absent or not matching (number,
   member, payer, code, period, status approved/partial), CO 198 units exhausted;
6. coordination of benefits — CO 22 when this payer is secondary and the payer ahead has not
   adjudicated;
7. pricing — CO 45 charge over the allowed amount; PR 1 deductible, then PR 3 copay, then PR 2
   coinsurance, capped by the remaining out-of-pocket maximum; as secondary, OA 23 for what the
   prior payer paid and the patient's share reduced by it (coinsurance first, then copay, then
   deductible).

Every line balances: ``charge == paid + sum(adjustments)``. Rounding: coinsurance is floored
to the cent (the patient's favour); a prior payer's claim-level payment is spread over the lines
in proportion to their charges, remainders to the earliest lines.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from careledger.contracts.payer.benefits import (
    Accumulator,
    Benefit,
    BenefitPlan,
    CoverageRecord,
    PlanRecord,
    benefit_for,
    plan_year,
)
from careledger.contracts.payer.values import (
    Adjustment,
    AuthorizationRecord,
    BillingCode,
    Cents,
    ClaimAdjudication,
    ClaimStatus,
    ClaimSubmission,
    Day,
    LedgerLine,
    LineAdjudication,
    Modifier,
    PlaceOfService,
    Relationship,
)
from careledger.contracts.phi_guard import HexDigest

REPEAT_MODIFIERS = frozenset({"76", "77", "91"})
"""Repeat procedure (same / another physician) and repeat clinical lab test: never duplicates."""
LATERALITY = frozenset({"RT", "LT"})
_ORDER = {"primary": 0, "secondary": 1, "tertiary": 2}
_REMARKS = {"22": "MA04", "96": "N130", "204": "N130"}
Review = Literal["none", "duplicate", "not-duplicate"]


class PriorLine(msgspec.Struct, frozen=True):
    """A processed line, as the duplicate index keeps it (``dupline/...`` in ``claims``)."""

    claim_key: HexDigest
    line: Annotated[int, msgspec.Meta(ge=1, le=999)]
    code: BillingCode
    rendering: HexDigest
    billing: HexDigest
    modifiers: Annotated[list[Modifier], msgspec.Meta(max_length=4)]
    place_of_service: PlaceOfService | None
    units: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    charge_cents: Cents
    service_from: Day
    service_to: Day


class YearAccumulator(msgspec.Struct, frozen=True):
    year: int
    accumulator: Accumulator


class AdjudicationInputs(msgspec.Struct, frozen=True):
    """Everything besides the claim that the result depends on."""

    coverages: list[CoverageRecord]
    """The member's coverages with the claim's payer."""
    revoked: list[str]
    """Plan ids whose coverage credential is revoked."""
    plan: PlanRecord | None
    """The plan of :func:`select_coverage`'s choice."""
    accumulators: list[YearAccumulator]
    """That plan's accumulators for the member, for the years the lines fall in."""
    authorization: AuthorizationRecord | None
    authorization_used: int
    """Units of that authorization already paid on earlier claims."""
    prior_lines: list[PriorLine]
    """Earlier processed lines of this member with the claim's codes."""
    received: Day
    adjudicated: Day
    control_number: str
    """``CLP07`` to give the claim."""
    review: Review = "none"
    """A reviewer's decision on a pended claim: suspects are duplicates, or are not."""


class Outcome(msgspec.Struct, frozen=True):
    adjudication: ClaimAdjudication
    accumulators: list[YearAccumulator]
    """The accumulators after this claim (every year in the inputs)."""
    authorization_used: int
    new_lines: list[PriorLine]
    """Lines to add to the duplicate index (the priced ones)."""


def select_coverage(
    claim: ClaimSubmission, coverages: list[CoverageRecord], revoked: list[str]
) -> CoverageRecord | None:
    """The coverage in force on the earliest date of service that has one (revoked ones skipped)."""
    usable = sorted(
        (c for c in coverages if c.coverage.plan not in revoked and c.payer == claim.payer),
        key=lambda c: (c.coverage.start, c.coverage.plan),
    )
    for day in sorted(line.service_from for line in claim.lines):
        for record in usable:
            if record.coverage.start <= day <= record.coverage.end:
                return record
    return None


def years_needed(claim: ClaimSubmission, plan: BenefitPlan) -> list[int]:
    return sorted({plan_year(plan, line.service_from) for line in claim.lines})


def cob_position(claim: ClaimSubmission, relationship: Relationship) -> int:
    """1, 2 or 3: this payer's place. NAIC subset: a plan covering the member as the subscriber
    pays before one covering them as a dependent; between plans of the same kind (two
    dependent-child plans: the birthday rule, which needs the parents' birth dates and is
    decided off chain) the order the provider declared (``SBR01``) stands."""
    mine = 0 if relationship == "self" else 1
    declared = _ORDER[claim.responsibility]
    ahead = 0
    for other in claim.other_coverage:
        theirs = 0 if other.relationship == "self" else 1
        if theirs < mine or (theirs == mine and _ORDER[other.responsibility] < declared):
            ahead += 1
    return min(3, 1 + ahead)


def _payers_ahead_paid(claim: ClaimSubmission, relationship: Relationship) -> tuple[int, bool]:
    """(what the payers ahead paid, whether all of them adjudicated)."""
    mine = 0 if relationship == "self" else 1
    declared = _ORDER[claim.responsibility]
    paid, complete = 0, True
    for other in claim.other_coverage:
        theirs = 0 if other.relationship == "self" else 1
        if theirs < mine or (theirs == mine and _ORDER[other.responsibility] < declared):
            paid += other.paid_cents
            complete = complete and other.adjudicated
    return paid, complete


def _spread(amount: int, claim: ClaimSubmission) -> list[int]:
    """``amount`` over the lines in proportion to their charges (largest remainder, stable)."""
    total = claim.total_charge_cents
    if amount == 0 or total == 0:
        return [0] * len(claim.lines)
    shares = [amount * line.charge_cents // total for line in claim.lines]
    remainders = sorted(
        range(len(claim.lines)),
        key=lambda i: (-(amount * claim.lines[i].charge_cents % total), i),
    )
    for i in remainders[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def _duplicate(line: LedgerLine, claim: ClaimSubmission, prior: list[PriorLine]) -> str | None:
    """``exact:<claim key>``, ``suspect:<claim key>`` or None."""
    if REPEAT_MODIFIERS.intersection(line.modifiers):
        return None
    mine = (
        line.rendering,
        claim.billing,
        line.service_from,
        line.service_to,
        sorted(line.modifiers),
        line.place_of_service,
        line.units,
        line.charge_cents,
    )
    suspect: str | None = None
    side = LATERALITY.intersection(line.modifiers)
    for p in prior:
        if p.code != line.code or p.service_from > line.service_to:
            continue
        if line.service_from > p.service_to:
            continue
        other_side = LATERALITY.intersection(p.modifiers)
        if side and other_side and side != other_side:
            continue
        theirs = (
            p.rendering,
            p.billing,
            p.service_from,
            p.service_to,
            sorted(p.modifiers),
            p.place_of_service,
            p.units,
            p.charge_cents,
        )
        if theirs == mine:
            return f"exact:{p.claim_key}"
        suspect = suspect or f"suspect:{p.claim_key}"
    return suspect


def _authorization_reason(
    line: LedgerLine, claim: ClaimSubmission, auth: AuthorizationRecord | None, used: int
) -> str | None:
    if auth is None or claim.prior_authorization != auth.number:
        return "197"
    if (
        auth.status not in ("approved", "partial")
        or auth.payer != claim.payer
        or auth.member != claim.member
        or line.code not in auth.codes
        or not auth.start <= line.service_from <= line.service_to <= auth.end
    ):
        return "197"
    if used + line.units > auth.units:
        return "198"
    return None


def _cost_share(
    allowed: int, benefit: Benefit, plan: BenefitPlan, acc: Accumulator
) -> tuple[int, int, int]:
    """(deductible, copay, coinsurance) on ``allowed``, capped by the remaining OOP maximum."""
    remaining_oop = max(0, plan.oop_max_cents - acc.out_of_pocket_cents)
    remaining_ded = max(0, plan.deductible_cents - acc.deductible_cents)
    deductible = min(allowed, remaining_ded) if benefit.deductible_applies else 0
    copay = min(allowed - deductible, benefit.copay_cents)
    rate = plan.coinsurance_bp if benefit.coinsurance_bp is None else benefit.coinsurance_bp
    coinsurance = (allowed - deductible - copay) * rate // 10_000
    deductible = min(deductible, remaining_oop)
    copay = min(copay, remaining_oop - deductible)
    coinsurance = min(coinsurance, remaining_oop - deductible - copay)
    return deductible, copay, coinsurance


def _denied(line: LedgerLine, group: str, reason: str) -> LineAdjudication:
    remark = _REMARKS.get(reason)
    return LineAdjudication(
        line=line.line,
        code=line.code,
        modifiers=list(line.modifiers),
        charge_cents=line.charge_cents,
        allowed_cents=0,
        paid_cents=0,
        adjustments=[Adjustment(group, reason, line.charge_cents)],  # type: ignore[arg-type]
        remarks=[remark] if remark else [],
        units_paid=0,
    )


def _eligibility_reason(
    line: LedgerLine, chosen: CoverageRecord | None, coverages: list[CoverageRecord]
) -> str | None:
    if chosen is not None:
        period = chosen.coverage
        if period.start <= line.service_from <= period.end:
            return None
        return "26" if line.service_from < period.start else "27"
    if not coverages:
        return "31"
    return "26" if line.service_from < min(c.coverage.start for c in coverages) else "27"


class _Run:
    """One claim's adjudication in progress: what earlier lines of the claim changed."""

    def __init__(self, claim: ClaimSubmission, inputs: AdjudicationInputs) -> None:
        self.claim = claim
        self.inputs = inputs
        self.own = [c for c in inputs.coverages if c.payer == claim.payer]
        self.chosen = select_coverage(claim, self.own, inputs.revoked)
        self.plan = inputs.plan.plan if inputs.plan is not None and self.chosen else None
        if self.plan is not None and self.chosen and self.plan.plan != self.chosen.coverage.plan:
            raise ValueError("inputs.plan is not the plan of the selected coverage")
        self.accumulators = {entry.year: entry.accumulator for entry in inputs.accumulators}
        relationship: Relationship = self.chosen.coverage.relationship if self.chosen else "self"
        self.position = cob_position(claim, relationship)
        paid_ahead, self.ahead_complete = _payers_ahead_paid(claim, relationship)
        self.shares = _spread(paid_ahead, claim) if self.position > 1 else [0] * len(claim.lines)
        self.used = inputs.authorization_used
        self.prior = list(inputs.prior_lines)
        self.new_lines: list[PriorLine] = []
        self.related: str | None = None
        self.pended = False

    def denial(self, line: LedgerLine) -> LineAdjudication | Benefit | None:
        """The line denied, or its benefit when it may be priced (None: the claim pends)."""
        reason = _eligibility_reason(line, self.chosen, self.own)
        plan = self.plan
        if reason is not None or plan is None:
            return _denied(line, "CO", reason or "31")
        if self.inputs.review != "not-duplicate":
            found = _duplicate(line, self.claim, self.prior)
            if found is not None:
                kind, key = found.split(":", 1)
                self.related = self.related or key
                if kind == "exact" or self.inputs.review == "duplicate":
                    return _denied(line, "OA", "18")
                self.pended = True
                return None
        if self.inputs.received - line.service_to > plan.timely_filing_days:
            return _denied(line, "CO", "29")
        benefit = benefit_for(plan, line.code)
        if line.code in plan.excluded or benefit is None:
            return _denied(line, "CO", "96" if line.code in plan.excluded else "204")
        if benefit.prior_auth:
            auth = self.inputs.authorization
            auth_reason = _authorization_reason(line, self.claim, auth, self.used)
            if auth_reason is not None:
                denied = _denied(line, "CO", auth_reason)
                if auth is not None and auth_reason == "197":
                    denied = msgspec.structs.replace(denied, remarks=["N54"])
                return denied
        if self.position > 1 and not self.ahead_complete:
            return _denied(line, "CO", "22")
        return benefit

    def price(self, line: LedgerLine, benefit: Benefit, share: int) -> LineAdjudication:
        """Allowed amount and cost sharing; accrues to the accumulators and the index."""
        plan = self.plan
        assert plan is not None  # denial() returned a benefit only under a plan
        year = plan_year(plan, line.service_from)
        acc = self.accumulators.get(year, Accumulator())
        allowed = min(line.charge_cents, benefit.allowed_cents * line.units)
        deductible, copay, coinsurance = _cost_share(allowed, benefit, plan, acc)
        prior_impact = min(share, allowed) if self.position > 1 else 0
        paid = allowed - deductible - copay - coinsurance
        if self.position > 1:
            paid = min(paid, allowed - prior_impact)
            excess = deductible + copay + coinsurance - (allowed - prior_impact - paid)
            for_coins = min(coinsurance, excess)
            coinsurance, excess = coinsurance - for_coins, excess - for_coins
            for_copay = min(copay, excess)
            copay, excess = copay - for_copay, excess - for_copay
            deductible -= excess
        self.accumulators[year] = Accumulator(
            acc.deductible_cents + deductible,
            acc.copay_cents + copay,
            acc.coinsurance_cents + coinsurance,
        )
        if benefit.prior_auth:
            self.used += line.units
        entry = PriorLine(
            self.claim.claim_key,
            line.line,
            line.code,
            line.rendering,
            self.claim.billing,
            list(line.modifiers),
            line.place_of_service,
            line.units,
            line.charge_cents,
            line.service_from,
            line.service_to,
        )
        self.prior.append(entry)
        self.new_lines.append(entry)
        amounts = (
            ("CO", "45", line.charge_cents - allowed),
            ("OA", "23", prior_impact),
            ("PR", "1", deductible),
            ("PR", "3", copay),
            ("PR", "2", coinsurance),
        )
        return LineAdjudication(
            line=line.line,
            code=line.code,
            modifiers=list(line.modifiers),
            charge_cents=line.charge_cents,
            allowed_cents=allowed,
            paid_cents=paid,
            adjustments=[
                Adjustment(group, reason, amount)  # type: ignore[arg-type]
                for group, reason, amount in amounts
                if amount > 0
            ],
            remarks=[],
            units_paid=line.units,
        )


def adjudicate(claim: ClaimSubmission, inputs: AdjudicationInputs) -> Outcome:
    """Adjudicate ``claim``; see the module docstring for the rules and their order."""
    run = _Run(claim, inputs)
    lines: list[LineAdjudication] = []
    for line, share in zip(claim.lines, run.shares, strict=True):
        decided = run.denial(line)
        if isinstance(decided, LineAdjudication):
            lines.append(decided)
        elif decided is not None:
            lines.append(run.price(line, decided, share))
    plan = run.plan
    status: ClaimStatus = ("1", "2", "3")[run.position - 1]
    if run.pended:
        result = _pended(claim, inputs, plan, status, run.related)
        return Outcome(result, inputs.accumulators, inputs.authorization_used, [])
    denied = all(adj.units_paid == 0 for adj in lines)
    result = ClaimAdjudication(
        claim_key=claim.claim_key,
        digest=claim.digest,
        payer=claim.payer,
        member=claim.member,
        plan=plan.plan if plan is not None else None,
        plan_year=plan_year(plan, min(x.service_from for x in claim.lines)) if plan else 0,
        status="4" if denied else status,
        disposition="denied" if denied else "processed",
        total_charge_cents=claim.total_charge_cents,
        paid_cents=sum(adj.paid_cents for adj in lines),
        patient_responsibility_cents=sum(
            a.amount_cents for adj in lines for a in adj.adjustments if a.group == "PR"
        ),
        lines=lines,
        adjustments=[],
        remarks=[],
        payer_claim_control_number=inputs.control_number,
        adjudicated=inputs.adjudicated,
        related=run.related,
        prior_authorization=claim.prior_authorization,
    )
    years = sorted(run.accumulators)
    accumulators = [YearAccumulator(year, run.accumulators[year]) for year in years]
    return Outcome(result, accumulators, run.used, run.new_lines)


def _pended(
    claim: ClaimSubmission,
    inputs: AdjudicationInputs,
    plan: BenefitPlan | None,
    status: ClaimStatus,
    related: str | None,
) -> ClaimAdjudication:
    """A claim held for duplicate review: no lines, no money, until a reviewer decides."""
    return ClaimAdjudication(
        claim_key=claim.claim_key,
        digest=claim.digest,
        payer=claim.payer,
        member=claim.member,
        plan=plan.plan if plan is not None else None,
        plan_year=plan_year(plan, min(x.service_from for x in claim.lines)) if plan else 0,
        status=status,
        disposition="pended",
        total_charge_cents=claim.total_charge_cents,
        paid_cents=0,
        patient_responsibility_cents=0,
        lines=[],
        adjustments=[],
        remarks=[],
        payer_claim_control_number=inputs.control_number,
        adjudicated=inputs.adjudicated,
        related=related,
        prior_authorization=claim.prior_authorization,
    )
