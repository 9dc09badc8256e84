"""The CMS-0057-F public-report figures for prior authorization, computed from the chain alone.

Every figure comes from the ``prior_auth.*`` events of valid ``prior_auth`` transactions in the
blocks, so any member holding the chain gets the same numbers (no private database involved).
A request counts in the year of its final decision: the last ``prior_auth.decided`` event for its
number (an appeal re-pends it, and the decision after the appeal replaces the denial).

* approved: final action A1, A2 or A6; denied: A3; cancelled requests are not decided;
* approved after appeal: approved by a decision taken after an appeal;
* approved after an extended timeframe: approved after the payer took the extension;
* decision time: from the start of the clock the decision answered (the request, its latest
  update, or the appeal) to the decision, in hours — mean and median, for standard and expedited
  requests separately and together;
* breaches: ``prior_auth.deadline_breached`` events whose deadline falls in the year.

Not for: the review queue (the contract's ``pending`` query).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from careledger.errors import EncodingError
from careledger.ledger.block import Block
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import decode_envelope, decode_proposal, decode_response

NAMESPACE = "prior_auth"
_HOUR_MS = 3_600_000
APPROVED = frozenset({"A1", "A2", "A6"})


@dataclass(frozen=True, slots=True)
class TimeframeFigures:
    decided: int
    approved: int
    denied: int
    percent_approved: float | None
    percent_denied: float | None
    mean_decision_hours: float | None
    median_decision_hours: float | None
    deadline_breaches: int


@dataclass(frozen=True, slots=True)
class PriorAuthReport:
    year: int
    payer: str | None
    decided: int
    approved: int
    denied: int
    percent_approved: float | None
    percent_denied: float | None
    percent_approved_after_appeal: float | None
    percent_approved_after_extension: float | None
    mean_decision_hours: float | None
    median_decision_hours: float | None
    deadline_breaches: int
    standard: TimeframeFigures
    expedited: TimeframeFigures

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def prior_auth_events(blocks: Iterable[Block]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(name, payload) of every event of a valid ``prior_auth`` transaction, in chain order."""
    for block in blocks:
        if block.number == 0 or not block.codes:
            continue
        for raw, code in zip(block.transactions, block.codes, strict=True):
            if code is not ValidationCode.VALID:
                continue
            try:
                envelope = decode_envelope(raw)
                if decode_proposal(envelope.proposal).contract != NAMESPACE:
                    continue
                events = decode_response(envelope.response).events
            except EncodingError:
                continue
            for event in events:
                if event.name.startswith("prior_auth.") and isinstance(event.payload, dict):
                    yield event.name, event.payload


def _year_of(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, UTC).year


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _hours(values: list[int]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    hours = [v / _HOUR_MS for v in values]
    return round(statistics.fmean(hours), 2), round(statistics.median(hours), 2)


def _figures(decisions: list[dict[str, Any]], breaches: int) -> TimeframeFigures:
    approved = sum(1 for d in decisions if d["action"] in APPROVED)
    denied = sum(1 for d in decisions if d["action"] == "A3")
    mean, median = _hours([d["decided_at"] - d["started_at"] for d in decisions])
    return TimeframeFigures(
        decided=len(decisions),
        approved=approved,
        denied=denied,
        percent_approved=_percent(approved, len(decisions)),
        percent_denied=_percent(denied, len(decisions)),
        mean_decision_hours=mean,
        median_decision_hours=median,
        deadline_breaches=breaches,
    )


def prior_auth_report(
    events: Iterable[tuple[str, dict[str, Any]]], year: int, payer: str | None = None
) -> PriorAuthReport:
    """The public-report figures of ``year`` (decisions of that year), for one payer or all."""
    final: dict[str, dict[str, Any]] = {}
    breaches: list[dict[str, Any]] = []
    for name, payload in events:
        number = str(payload.get("number"))
        if name == "prior_auth.decided":
            final[number] = payload
        elif name in ("prior_auth.cancelled", "prior_auth.appealed", "prior_auth.updated"):
            final.pop(number, None)  # no longer decided (re-pended or withdrawn)
        elif name == "prior_auth.deadline_breached":
            breaches.append(payload)
    decisions = [
        d
        for d in final.values()
        if _year_of(int(d["decided_at"])) == year and (payer is None or d.get("payer") == payer)
    ]
    year_breaches = [
        b
        for b in breaches
        if _year_of(int(b["deadline"])) == year and (payer is None or b.get("payer") == payer)
    ]
    overall = _figures(decisions, len(year_breaches))
    approved = [d for d in decisions if d["action"] in APPROVED]
    by_priority = {
        p: _figures(
            [d for d in decisions if d["priority"] == p],
            sum(1 for b in year_breaches if b.get("priority") == p),
        )
        for p in ("standard", "expedited")
    }
    return PriorAuthReport(
        year=year,
        payer=payer,
        decided=overall.decided,
        approved=overall.approved,
        denied=overall.denied,
        percent_approved=overall.percent_approved,
        percent_denied=overall.percent_denied,
        percent_approved_after_appeal=_percent(
            sum(1 for d in approved if d.get("appealed")), len(decisions)
        ),
        percent_approved_after_extension=_percent(
            sum(1 for d in approved if d.get("extended")), len(decisions)
        ),
        mean_decision_hours=overall.mean_decision_hours,
        median_decision_hours=overall.median_decision_hours,
        deadline_breaches=overall.deadline_breaches,
        standard=by_priority["standard"],
        expedited=by_priority["expedited"],
    )
