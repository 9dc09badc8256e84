"""Invariants of adjudication over random plans and random claim histories (hypothesis).

A history is adjudicated the way the ``claims`` contract does it: claim after claim, each
seeing the accumulators and duplicate index the previous ones left."""

from __future__ import annotations

from collections import defaultdict

import msgspec
from hypothesis import event, given, settings
from hypothesis import strategies as st

from careledger.contracts.payer.adjudication import (
    AdjudicationInputs,
    PriorLine,
    YearAccumulator,
    adjudicate,
)
from careledger.contracts.payer.benefits import (
    Accumulator,
    Benefit,
    BenefitPlan,
    PlanRecord,
    plan_year,
)
from careledger.contracts.payer.model import (
    ClaimAdjudication,
    ClaimSubmission,
    OtherCoverage,
    iso_day,
)
from careledger.contracts.payer.reversal import reverse
from careledger.crypto import encoding
from careledger.payer.ledger_form import ledger_form
from tests.payer.factories import JAN1, KEYER, claim, coverage, line, record

CODES = ["73560", "80053", "99213", "99214", "J1100"]


@st.composite
def plans(draw: st.DrawFn) -> BenefitPlan:
    deductible = draw(st.integers(0, 200_000))
    benefits = [
        Benefit(
            f"HC:{code}",
            draw(st.integers(0, 50_000)),
            copay_cents=draw(st.integers(0, 5_000)),
            coinsurance_bp=draw(st.none() | st.integers(0, 10_000)),
            deductible_applies=draw(st.booleans()),
        )
        for code in sorted(draw(st.sets(st.sampled_from(CODES), min_size=1)))
    ]
    return BenefitPlan(
        plan="gold",
        payer="Org2",
        deductible_cents=deductible,
        oop_max_cents=deductible + draw(st.integers(0, 300_000)),
        coinsurance_bp=draw(st.integers(0, 10_000)),
        timely_filing_days=draw(st.integers(30, 400)),
        benefits=benefits,
        year_start_month=draw(st.sampled_from([1, 7])),
    )


@st.composite
def claims(draw: st.DrawFn, n: int) -> ClaimSubmission:
    count = draw(st.integers(1, 4))
    lines = [
        line(
            i + 1,
            draw(st.sampled_from(CODES)),
            draw(st.integers(0, 80_000)),
            units=draw(st.integers(1, 3)),
            service_from=iso_day(JAN1 + draw(st.integers(0, 420))),
            modifiers=draw(st.lists(st.sampled_from(["25", "59", "RT", "LT", "76"]), max_size=2)),
        )
        for i in range(count)
    ]
    total = sum(x.charge_cents for x in lines)
    others = []
    if draw(st.booleans()):
        others = [OtherCoverage("PAYERA", "primary", "self", draw(st.integers(0, total)), [], True)]
    return ledger_form(
        claim(
            *lines,
            claim_id=f"PCN-{n}",
            other_coverage=others,
            responsibility="secondary" if others else "primary",
        ),
        KEYER,
    )


def _history(plan: BenefitPlan, subs: list[ClaimSubmission], relationship: str, late: int):
    accumulators: dict[int, Accumulator] = {}
    prior: list[PriorLine] = []
    cov = record(coverage(relationship=relationship, end=JAN1 + 500))
    for sub in subs:
        years = sorted({plan_year(plan, x.service_from) for x in sub.lines})
        received = max(x.service_to for x in sub.lines) + late
        before = {y: accumulators.get(y, Accumulator()) for y in years}
        inputs = AdjudicationInputs(
            coverages=[cov],
            revoked=[],
            plan=PlanRecord(plan, 1, 0),
            accumulators=[YearAccumulator(y, before[y]) for y in years],
            authorization=None,
            authorization_used=0,
            prior_lines=list(prior),
            received=received,
            adjudicated=received,
            control_number="ab" * 16,
        )
        out = adjudicate(sub, inputs)
        for entry in out.accumulators:
            accumulators[entry.year] = entry.accumulator
        prior.extend(out.new_lines)
        yield sub, inputs, out, before


histories = st.tuples(
    plans(),
    st.lists(st.integers(0, 10_000), min_size=1, max_size=6).flatmap(
        lambda ns: st.tuples(*(claims(n) for n in range(len(ns))))
    ),
    st.sampled_from(["self", "child"]),
    st.sampled_from([0, 10, 500]),
)


def _balanced(adj: ClaimAdjudication) -> None:
    for ln in adj.lines:
        assert ln.charge_cents == ln.paid_cents + sum(a.amount_cents for a in ln.adjustments)
        assert all(a.amount_cents >= 0 for a in ln.adjustments)
        assert ln.allowed_cents <= ln.charge_cents
    every = [a for ln in adj.lines for a in ln.adjustments] + adj.adjustments
    assert adj.total_charge_cents == adj.paid_cents + sum(a.amount_cents for a in every)
    assert adj.patient_responsibility_cents == sum(a.amount_cents for a in every if a.group == "PR")


@settings(max_examples=150, deadline=None)
@given(histories)
def test_adjudication_invariants(history) -> None:  # type: ignore[no-untyped-def]
    plan, subs, relationship, late = history
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    last: dict[int, Accumulator] = {}
    for sub, inputs, out, before in _history(plan, list(subs), relationship, late):
        adj = out.adjudication
        event(f"{adj.disposition} as {adj.status}")
        if adj.disposition == "pended":
            assert adj.paid_cents == 0
            assert adj.lines == []
            assert out.new_lines == []
            continue
        _balanced(adj)
        undone = reverse(adj, 0)  # a void: the same balance, every amount negated
        assert undone.total_charge_cents == undone.paid_cents + sum(
            a.amount_cents for ln in undone.lines for a in ln.adjustments
        )
        assert undone.patient_responsibility_cents == -adj.patient_responsibility_cents
        pr_by_year: dict[int, int] = defaultdict(int)
        for ledger_line, ln in zip(sub.lines, adj.lines, strict=True):
            year = plan_year(plan, ledger_line.service_from)
            for a in ln.adjustments:
                event(f"{a.group} {a.reason}")
                if a.group == "PR":
                    pr_by_year[year] += a.amount_cents
                    totals[year][{"1": 0, "3": 1, "2": 2}[a.reason]] += a.amount_cents
        for entry in out.accumulators:
            last[entry.year] = entry.accumulator
        for year, pr in pr_by_year.items():
            # Patient responsibility never exceeds what was left of the OOP maximum.
            assert pr <= max(0, plan.oop_max_cents - before[year].out_of_pocket_cents)
        for ledger_line, ln in zip(sub.lines, adj.lines, strict=True):
            benefit = next((b for b in plan.benefits if b.code == ledger_line.code), None)
            coinsurance = sum(a.amount_cents for a in ln.adjustments if a.reason == "2")
            if coinsurance and benefit is not None and benefit.deductible_applies:
                # Deductible accrues before coinsurance: none is charged until it is met.
                year = plan_year(plan, ledger_line.service_from)
                assert last[year].deductible_cents == plan.deductible_cents
        if adj.status == "2":
            # As secondary the plan never pays more, nor leaves the patient more, than it would
            # as primary (per claim: the OOP room one line leaves may be used by the next).
            alone = adjudicate(
                msgspec.structs.replace(sub, other_coverage=[], responsibility="primary"), inputs
            ).adjudication
            assert adj.paid_cents <= alone.paid_cents
            assert adj.patient_responsibility_cents <= alone.patient_responsibility_cents
        # Determinism: the same inputs, even decoded from their encoding, give the same bytes.
        again = adjudicate(
            msgspec.msgpack.decode(msgspec.msgpack.encode(sub), type=ClaimSubmission),
            msgspec.msgpack.decode(msgspec.msgpack.encode(inputs), type=AdjudicationInputs),
        )
        assert encoding.encode(msgspec.to_builtins(again)) == encoding.encode(
            msgspec.to_builtins(out)
        )
    for year, (deductible, copay, coinsurance) in totals.items():
        # Accumulators equal the sums of PR 1 / PR 3 / PR 2 of their year.
        assert last[year] == Accumulator(deductible, copay, coinsurance)
