"""The ``careledger`` command as a user runs it: init, demo, verify (incl. tampering), bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from careledger.cli.main import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "careledger.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "consortium"
    result = run("demo", "--data", str(directory))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo complete" in result.stdout
    assert "🔑" not in result.stdout  # Rich once read ":key:" in did:key: as an emoji code
    return directory


def test_demo_tells_the_story_and_keeps_a_verifiable_chain(demo_dir: Path) -> None:
    result = run("verify", str(demo_dir))
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(" OK ") == 3


def test_demo_runs_non_interactively_in_a_temporary_directory() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "refused before approval",
        "MVCC_READ_CONFLICT",
        "is revoked",
        "identical state roots: True",
    ):
        assert line in result.stdout


@pytest.mark.parametrize("where", ["middle", "last"])
def test_verify_names_the_block_and_check_of_a_flipped_byte(
    demo_dir: Path, tmp_path: Path, where: str
) -> None:
    copy = tmp_path / "c"
    subprocess.run(["cp", "-r", str(demo_dir), str(copy)], check=True)
    chain = copy / "data" / "Hospital" / "blocks.log"
    data = bytearray(chain.read_bytes())
    pos = len(data) // 2 if where == "middle" else len(data) - 40
    data[pos] ^= 0x01
    chain.write_bytes(bytes(data))
    result = run("verify", str(copy), "--org", "Hospital")
    assert result.returncode == 1
    assert "Hospital: FAILED block " in result.stdout
    assert "check failed" in result.stdout


def test_init_refuses_to_overwrite_and_rejects_bad_names(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["init", str(tmp_path / "c"), "--orgs", "2"])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(cli, ["init", str(tmp_path / "c")])
    assert again.exit_code == 2
    assert "already holds a consortium" in again.output
    bad = runner.invoke(cli, ["init", str(tmp_path / "d"), "--org", "9bad"])
    assert bad.exit_code == 2
    assert "organisation id" in bad.output


def test_verify_of_a_directory_without_consortium_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["verify", str(tmp_path)])
    assert result.exit_code == 2
    assert "careledger init" in result.output


@pytest.mark.parametrize("mode", [[], ["--workers"]], ids=["in-process", "workers"])
def test_bench_ledger_prints_a_json_report(mode: list[str]) -> None:
    result = run(
        "bench",
        "ledger",
        "--transactions",
        "300",
        "--accounts",
        "300",
        "--concurrency",
        "64",
        *mode,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["committed_valid"] > 0
    assert report["tps"] > 0
    assert 0 < report["success_rate"] <= 1
    assert report["latency_p50_ms"] <= report["latency_p95_ms"] <= report["latency_p99_ms"]
    assert report["ed25519_verify_per_s"] > 1000
    assert report["pipeline_ratio"] > 0
    assert report["workers"] is bool(mode)
    processes = {"loop", "Org1", "Org2", "Org3"} if mode else {"loop"}
    assert set(report["cpu_ms_per_tx"]) == processes | {"total"}
    assert report["cpu_ms_per_tx"]["total"] >= report["cpu_ms_per_tx"]["loop"] > 0
