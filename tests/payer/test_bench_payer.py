"""``careledger bench payer`` runs every figure on a small workload and reports them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from careledger.cli.bench import bench_payer


def test_bench_payer_json() -> None:
    result = CliRunner().invoke(
        bench_payer,
        [
            "--json",
            "--claims",
            "20",
            "--linear-claims",
            "40",
            "--committed",
            "12",
            "--concurrency",
            "4",
            "--pa-rounds",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["x12_claims"] == 20
    assert figures["pyx12_accepted"] is True
    assert figures["end_to_end_claims_per_s"] > 0
    assert figures["ratio_to_baseline"] > 0
    assert figures["linear_claims"] == 40
    assert figures["committed_claims"] == 12
    assert figures["refused_claims"] == 0
    assert figures["committed_claims_per_s"] > 0
    assert figures["pa_submit_100_p95_ms"] > 0
