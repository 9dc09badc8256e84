"""The one shape every ``careledger bench`` report has.

A :class:`BenchReport` names its workload, its headline rate (``throughput_key``), the baseline
measured in the same run that the rate is compared with (``baseline_key``; the ratio is printed
beside it), and every other figure in order. :func:`percentile` and :func:`latency_ms` are the
one way latencies become p50/p95/p99. The CLI prints a report as aligned text or, with
``--json``, as the figures object (plus ``ratio_to_baseline`` when a baseline is named).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 ≤ q ≤ 1) of ``values``; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_ms(seconds: Sequence[float], prefix: str = "latency") -> dict[str, float]:
    """``{prefix}_p50_ms``, ``_p95_ms`` and ``_p99_ms`` of latencies given in seconds."""
    return {
        f"{prefix}_p{round(q * 100)}_ms": round(percentile(seconds, q) * 1000, 1)
        for q in (0.5, 0.95, 0.99)
    }


@dataclass
class BenchReport:
    """What one benchmark run measured."""

    title: str
    figures: dict[str, Any]
    throughput_key: str | None = None
    baseline_key: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def ratio_to_baseline(self) -> float | None:
        if self.throughput_key is None or self.baseline_key is None:
            return None
        baseline = float(self.figures.get(self.baseline_key) or 0.0)
        value = float(self.figures.get(self.throughput_key) or 0.0)
        return round(value / baseline, 3) if baseline else None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.figures)
        ratio = self.ratio_to_baseline
        if ratio is not None and "ratio_to_baseline" not in data:
            data["ratio_to_baseline"] = ratio
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def lines(self) -> list[str]:
        """The report as aligned text lines, the headline rate and its baseline first."""
        data = self.as_dict()
        first = [k for k in (self.throughput_key, self.baseline_key) if k in data]
        if "ratio_to_baseline" in data and self.baseline_key is not None:
            first.append("ratio_to_baseline")
        order = first + [k for k in data if k not in first]
        width = max([len(self.labels.get(k, k)) for k in order] + [24])
        return [f"  {self.labels.get(k, k):<{width}} {_show(data[k])}" for k in order]


def _show(value: Any) -> str:
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.1f}"
    return str(value)
