"""``careledger bench incentives --network``: awards through a ``network up`` consortium of three
node processes on a three-server NATS cluster — the sponsor's node verifies each credential,
the auditor's node co-signs over HTTP — with plain transfers on the same network as baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from careledger.cli.bench import bench_incentives
from careledger.cli.network import network
from careledger.netctl.nats_cluster import NatsUnavailable, find_nats_server


@pytest.mark.slow
def test_bench_incentives_on_network_up(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsUnavailable as exc:
        pytest.skip(str(exc))
    directory = tmp_path / "net"
    runner = CliRunner()
    args = ["--dir", str(directory)]
    up = runner.invoke(network, ["up", *args, "--orgs", "3"])
    try:
        assert up.exit_code == 0, up.output
        bench = runner.invoke(
            bench_incentives,
            [
                "--json",
                "--no-embedded",
                "--network",
                str(directory),
                "--network-awards",
                "12",
                "--concurrency",
                "4",
            ],
        )
        assert bench.exit_code == 0, bench.output
        figures = json.loads(bench.output)
        assert figures["network_orgs"] == 3
        assert figures["network_auditor"] == "Org2"  # Org1's node asks Org2's to co-sign
        assert figures["network_awarded"] == 12
        assert figures["network_refused"] == {}
        assert figures["network_awards_per_s"] > 0
        assert figures["network_award_p99_ms"] >= figures["network_award_p50_ms"] > 0
        assert figures["network_transfers_valid"] > 0
        assert figures["network_transfers_per_s"] > 0
        assert figures["ratio_to_baseline"] > 0
    finally:
        runner.invoke(network, ["down", *args])
