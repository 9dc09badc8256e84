"""The benchmark entry point returns a figure per format and prints nothing."""

from __future__ import annotations

import pytest

from careledger.bench import credentials as bench


def test_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench.run(0.05)
    assert {"jcs_verify_per_s", "rdfc_verify_per_s", "sd_jwt_presentation_verify_per_s"} <= set(
        figures
    )
    assert all(v > 0 for v in figures.values())
    assert capsys.readouterr().out == ""
