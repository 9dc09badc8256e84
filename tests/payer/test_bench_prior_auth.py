"""The prior-authorization benchmark workload runs and reports in the one bench shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

from careledger.bench.prior_auth import run_prior_auth_bench


def test_prior_auth_bench_reports_latency_and_its_baseline(tmp_path: Path) -> None:
    report = asyncio.run(run_prior_auth_bench(concurrency=(2, 4), rounds=1, workdir=tmp_path))
    figures = report.as_dict()
    assert figures["submit_per_s_4"] > 0
    assert figures["ledger_only_per_s_4"] > 0
    assert figures["submit_2_p95_ms"] >= figures["submit_2_p50_ms"] > 0
    assert report.ratio_to_baseline is not None
    assert any("submit_per_s_4" in line for line in report.lines())
