"""Reversing an adjudication: what a void (frequency 8) or a replacement (7) undoes.

:func:`reverse` is the reversal record an 835 reports (``CLP02`` 22, every amount negated, the
original's ``CLP07``); :func:`give_back` is what the reversal returns to the member's
accumulators (the original's PR 1 / PR 3 / PR 2, per plan year) and to the prior authorization
(the units its lines used). Pure, like the engine: the ``claims`` contract supplies the
original's duplicate-index entries (their dates give the plan year) and the plan.

Claims adjudicated after the original are not re-adjudicated: a reversal that lowers the
deductible met does not reprice them (payers do that as a separate retro adjustment).
"""

from __future__ import annotations

import msgspec

from careledger.contracts.payer.adjudication import PriorLine
from careledger.contracts.payer.benefits import Accumulator, BenefitPlan, benefit_for, plan_year
from careledger.contracts.payer.values import Adjustment, ClaimAdjudication, LineAdjudication

_PR_FIELD = {"1": 0, "3": 1, "2": 2}


def _negated(adjustments: list[Adjustment]) -> list[Adjustment]:
    return [msgspec.structs.replace(a, amount_cents=-a.amount_cents) for a in adjustments]


def reverse(original: ClaimAdjudication, adjudicated: int) -> ClaimAdjudication:
    """The reversal of ``original``: same lines and reasons, every amount negated."""
    lines = [
        LineAdjudication(
            line=ln.line,
            code=ln.code,
            modifiers=list(ln.modifiers),
            charge_cents=-ln.charge_cents,
            allowed_cents=-ln.allowed_cents,
            paid_cents=-ln.paid_cents,
            adjustments=_negated(ln.adjustments),
            remarks=[],
            units_paid=-ln.units_paid,
        )
        for ln in original.lines
    ]
    return msgspec.structs.replace(
        original,
        status="22",
        disposition="reversed",
        total_charge_cents=-original.total_charge_cents,
        paid_cents=-original.paid_cents,
        patient_responsibility_cents=-original.patient_responsibility_cents,
        lines=lines,
        adjustments=_negated(original.adjustments),
        remarks=[],
        adjudicated=adjudicated,
        related=None,
    )


def give_back(
    original: ClaimAdjudication,
    entries: dict[int, PriorLine],
    plan: BenefitPlan,
    accumulators: dict[int, Accumulator],
) -> tuple[dict[int, Accumulator], int]:
    """The accumulators (by plan year) without ``original``'s cost sharing, and the
    authorization units its lines used. ``entries`` are its duplicate-index lines by number."""
    after = dict(accumulators)
    units = 0
    for ln in original.lines:
        entry = entries.get(ln.line)
        if entry is None:  # a denied line: nothing accrued, nothing to give back
            continue
        year = plan_year(plan, entry.service_from)
        sums = [0, 0, 0]
        for a in ln.adjustments:
            if a.group == "PR" and a.reason in _PR_FIELD:
                sums[_PR_FIELD[a.reason]] += a.amount_cents
        acc = after.get(year, Accumulator())
        after[year] = Accumulator(
            max(0, acc.deductible_cents - sums[0]),
            max(0, acc.copay_cents - sums[1]),
            max(0, acc.coinsurance_cents - sums[2]),
        )
        benefit = benefit_for(plan, ln.code)
        if original.prior_authorization is not None and benefit is not None and benefit.prior_auth:
            units += ln.units_paid
    return after, units
