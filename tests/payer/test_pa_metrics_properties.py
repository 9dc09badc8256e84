"""Invariants of the CMS report over random request histories (pure, no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.payer.pas.metrics import prior_auth_report

HOUR = 3_600_000
START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)

history = st.lists(
    st.tuples(
        st.sampled_from(["standard", "expedited"]),
        st.lists(
            st.sampled_from(["A1", "A2", "A3", "A6", "appeal", "cancel", "extend"]), max_size=4
        ),
        st.integers(min_value=0, max_value=400 * 24),  # submission hour within ~13 months
        st.integers(min_value=1, max_value=500),  # hours between steps
    ),
    max_size=25,
)


def _events(requests: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for n, (priority, steps, at_hour, gap) in enumerate(requests):
        number = f"PA{n:020d}"
        submitted = START + at_hour * HOUR
        now, started, extended, appealed = submitted, submitted, False, False
        for step in steps:
            now += gap * HOUR
            if step == "extend":
                extended = True
                events.append(("prior_auth.extended", {"number": number}))
            elif step == "appeal":
                appealed = True
                started = now
                events.append(("prior_auth.appealed", {"number": number}))
            elif step == "cancel":
                events.append(("prior_auth.cancelled", {"number": number}))
            else:
                events.append(
                    (
                        "prior_auth.decided",
                        {
                            "number": number,
                            "payer": "Org2",
                            "action": step,
                            "priority": priority,
                            "submitted_at": submitted,
                            "started_at": started,
                            "decided_at": now,
                            "extended": extended,
                            "appealed": appealed,
                        },
                    )
                )
    return events


@settings(max_examples=150, deadline=None)
@given(history)
def test_report_invariants(requests: list[Any]) -> None:
    events = _events(requests)
    years = [prior_auth_report(events, year) for year in (2026, 2027)]
    finals: dict[str, str] = {}
    for name, payload in events:
        if name == "prior_auth.decided":
            finals[payload["number"]] = payload["action"]
        elif name in ("prior_auth.cancelled", "prior_auth.appealed"):
            finals.pop(payload["number"], None)
    assert sum(r.decided for r in years) == len(finals)  # each final decision counted once
    for report in years:
        assert report.approved + report.denied == report.decided
        assert report.standard.decided + report.expedited.decided == report.decided
        if report.decided:
            assert report.percent_approved is not None
            assert report.percent_denied is not None
            assert abs(report.percent_approved + report.percent_denied - 100) < 0.02
            assert report.mean_decision_hours is not None
            assert report.median_decision_hours is not None
            assert report.mean_decision_hours > 0
            assert report.median_decision_hours > 0
            after = report.percent_approved_after_appeal or 0
            assert after <= report.percent_approved + 0.01
        else:
            assert report.percent_approved is None
    assert prior_auth_report(events, 2026, payer="Org9").decided == 0
