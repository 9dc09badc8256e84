"""The ``claims`` contract's bookkeeping over random histories of originals, voids and
replacements: the accumulators always equal the PR 1 / PR 3 / PR 2 of the adjudications in
force, and every stored adjudication balances."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from careledger.contracts.payer.model import ClaimAdjudication, iso_day
from careledger.contracts.values import decode_value
from careledger.errors import CareLedgerError
from tests.payer.factories import (
    JAN1,
    MEMBER,
    LedgerDouble,
    coverage,
    line,
    plain,
    plan,
    submission,
)

CODES = ["73560", "80053", "99213", "J1100"]

lines_ = st.lists(
    st.tuples(
        st.sampled_from(CODES), st.integers(0, 90_000), st.integers(1, 3), st.integers(0, 300)
    ),
    min_size=1,
    max_size=3,
)
steps = st.lists(
    st.tuples(st.sampled_from(["new", "new", "void", "replace"]), lines_, st.integers(0, 20)),
    min_size=1,
    max_size=12,
)


def _lines(spec: list[tuple[str, int, int, int]]) -> list[Any]:
    return [
        line(i + 1, code, charge, units=units, service_from=iso_day(JAN1 + day))
        for i, (code, charge, units, day) in enumerate(spec)
    ]


@settings(max_examples=40, deadline=None)
@given(steps)
def test_accumulators_follow_the_adjudications_in_force(history: list[Any]) -> None:
    led = LedgerDouble()
    led.invoke("plans", "publish", [plain(plan(timely_filing_days=3650))])
    led.invoke("plans", "enrol", [plain(coverage())])
    led.invoke("plans", "admit", ["Org1", True])
    live: list[tuple[str, str]] = []  # (claim id, payer claim control number)
    for n, (action, spec, pick) in enumerate(history):
        billed = _lines(spec)
        if action == "new" or not live:
            claim_id = f"PCN-{n}"
            changes: dict[str, Any] = {}
        else:
            claim_id, control = live.pop(pick % len(live))
            changes = {"frequency_code": "8" if action == "void" else "7",
                       "original_reference": control}  # fmt: skip
        try:
            result = led.invoke(
                "claims", "submit", [plain(submission(*billed, claim_id=claim_id, **changes))],
                org="Org1",
            )  # fmt: skip
        except CareLedgerError as exc:
            event(f"refused {type(exc).__name__}")
            continue  # e.g. replacing a pended claim: refused, nothing written
        event(f"{changes.get('frequency_code', '1')} {result['disposition']}")
        if action != "void" or not changes:
            live.append((claim_id, result["payer_claim_control_number"]))
    pr = {"1": 0, "3": 0, "2": 0}
    for _key, vv in led.state.range("claims", "adjudication/", "adjudication0"):
        adj = decode_value(vv.value, ClaimAdjudication)
        for ln in adj.lines:
            assert ln.charge_cents == ln.paid_cents + sum(a.amount_cents for a in ln.adjustments)
            for a in ln.adjustments:
                if a.group == "PR":
                    pr[a.reason] += a.amount_cents
    spent = led.query("claims", "accumulator", [MEMBER, "gold", 2026])
    assert (spent["deductible_cents"], spent["copay_cents"], spent["coinsurance_cents"]) == (
        pr["1"],
        pr["3"],
        pr["2"],
    )
