"""``careledger network up|down|status`` and ``bench network`` with real node processes.

Most of these tests run the one-organisation ``embedded-solo`` network, which exercises the
process machinery without NATS: spawn, PID files, health wait, status over the API, stop by PID,
resume from stored data. The jetstream consortium is in ``test_consortium.py``; the TLS test
here runs a small jetstream network with mutual TLS everywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from careledger.api.client import NodeClient
from careledger.bench.network import approve_tokens
from careledger.cli.bench import bench_fhir, bench_network
from careledger.cli.network import network
from careledger.netctl import processes
from careledger.netctl.control import client_verify
from careledger.netctl.layout import NetworkLayout
from careledger.node.consortium import load_config


def _alive(pid: int) -> bool:
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    )


def test_up_status_down_up_resumes_and_bench(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    layout = NetworkLayout(directory)
    runner = CliRunner()
    args = ["--dir", str(directory)]
    up = runner.invoke(network, ["up", *args, "--orgs", "1", "--ordering", "embedded-solo"])
    try:
        assert up.exit_code == 0, up.output
        pid = processes.running_pid(layout, "Org1")
        assert pid is not None
        assert _alive(pid)

        # Already running: a second `up` starts nothing new.
        again = runner.invoke(network, ["up", *args])
        assert again.exit_code == 0, again.output
        assert processes.running_pid(layout, "Org1") == pid

        spec = layout.load()
        config = load_config(layout.consortium)

        async def write() -> int:
            async with NodeClient(spec.url("Org1"), config.member("Org1", "admin")) as admin:
                await approve_tokens(spec, {"Org1": admin})
                minted = await admin.submit("tokens", "mint", ["acct-1", 7])
                return minted.block + 1

        height = asyncio.run(write())
        status = runner.invoke(network, ["status", *args, "--json"])
        assert status.exit_code == 0, status.output
        [node] = json.loads(status.output)["nodes"]
        assert (node["org"], node["pid"], node["height"]) == ("Org1", pid, height)
        root = node["state_root"]

        bench = runner.invoke(
            bench_network, [*args, "--transactions", "20", "--accounts", "10", "--json"]
        )
        assert bench.exit_code == 0, bench.output
        report = json.loads(bench.output)
        assert report["committed_valid"] + sum(report["failures"].values()) == 20
        assert report["committed_valid"] > 0
        assert report["latency_p50_ms"] > 0

        # FHIR ingest with the locator transactions committed by the node process.
        fhir = runner.invoke(
            bench_fhir,
            ["--network", str(directory), "--resources", "30", "--batch", "10", "--json"],
        )
        assert fhir.exit_code == 0, fhir.output
        figures = json.loads(fhir.output)
        assert (figures["network_orgs"], figures["resources"]) == (1, 30)
        assert figures["ingest_resources_per_s"] > 0
        assert figures["store_only_resources_per_s"] >= figures["ingest_resources_per_s"]
        assert "Org1" in figures["cpu_ms_per_resource"]

        down = runner.invoke(network, ["down", *args])
        assert down.exit_code == 0, down.output
        assert "Org1" in down.output
        assert not layout.pid_file("Org1").exists()
        assert not _alive(pid)
        stopped = runner.invoke(network, ["status", *args])
        assert stopped.exit_code == 1
        assert "not running" in stopped.output

        resumed = runner.invoke(network, ["up", *args])
        assert resumed.exit_code == 0, resumed.output
        status = runner.invoke(network, ["status", *args, "--json"])
        [node] = json.loads(status.output)["nodes"]
        assert node["height"] > height  # the bench's blocks survived the restart
        assert node["state_root"] != root

        async def balance() -> int:
            async with NodeClient(spec.url("Org1"), config.member("Org1", "client0")) as c:
                result: int = await c.evaluate("tokens", "balance", ["acct-1"])
                return result

        assert asyncio.run(balance()) == 7
    finally:
        runner.invoke(network, ["down", *args])


def test_bench_fhir_network_needs_a_network(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench_fhir, ["--network", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no network in" in result.output


def test_up_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    runner = CliRunner()
    solo = runner.invoke(
        network, ["up", "--dir", str(tmp_path / "a"), "--orgs", "3", "--ordering", "embedded-solo"]
    )
    assert solo.exit_code == 2
    assert "embedded-solo" in solo.output
    assert not (tmp_path / "a" / "run").exists()
    missing = runner.invoke(network, ["status", "--dir", str(tmp_path / "none")])
    assert missing.exit_code == 2
    assert "no network" in missing.output


def test_a_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    layout = NetworkLayout(tmp_path)
    layout.pid_file("Org1").parent.mkdir(parents=True)
    layout.pid_file("Org1").write_text(f"{os.getpid()}\n/some/other/config.toml\n")
    assert processes.running_pid(layout, "Org1") is None  # our PID, but not that command line
    assert not layout.pid_file("Org1").exists()
    assert processes.stop(layout, "Org1") is False


def test_a_tls_network_serves_only_callers_with_its_certificates(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    layout = NetworkLayout(directory)
    runner = CliRunner()
    args = ["--dir", str(directory)]
    up = runner.invoke(network, ["up", *args, "--orgs", "3", "--tls"])
    try:
        assert up.exit_code == 0, up.output
        status = runner.invoke(network, ["status", *args, "--json"])
        assert status.exit_code == 0, status.output
        report = json.loads(status.output)
        assert all(n["url"].startswith("https://127.0.0.1:") for n in report["nodes"])
        assert all(s["url"].startswith("tls://") and s["healthy"] for s in report["nats"])
        # Each node is the NATS user its certificate names; only orderer orgs publish blocks.
        users = {
            line.split('"')[1]: line
            for line in (directory / "nats" / "n0.conf").read_text().splitlines()
            if line.strip().startswith("{user:")
        }
        assert set(users) == {f"CN={n},O=CareLedger" for n in ("Org1", "Org2", "Org3", "client")}
        blocks = '"careledger.careledger.blocks"'
        assert blocks in users["CN=Org3,O=CareLedger"]
        assert blocks not in users["CN=Org1,O=CareLedger"]
        # Endorse subjects (batched endorsement over NATS): a node subscribes to its own only,
        # the CLI client to none and publishes to none.
        endorse = "careledger.careledger.endorse."
        org1 = users["CN=Org1,O=CareLedger"].split("subscribe", 1)[1]
        assert f'"{endorse}Org2"' in org1
        assert f'"{endorse}Org1"' not in org1
        client_line = users["CN=client,O=CareLedger"]
        assert client_line.count(f'"{endorse}*"') == 2  # publish and subscribe denied

        spec = layout.load()
        config = load_config(layout.consortium)
        verify = client_verify(layout, spec)

        async def write() -> None:
            admins = {}
            async with AsyncExitStack() as stack:
                for org in spec.orgs:
                    client = NodeClient(spec.url(org), config.member(org, "admin"), verify=verify)
                    admins[org] = await stack.enter_async_context(client)
                await approve_tokens(spec, admins)
                # 2 of 3: Org1's node asks another organisation over NATS, through the
                # permissions above and mutual TLS.
                minted = await admins["Org1"].submit("tokens", "mint", ["tls-1", 3])
                assert minted.code == "VALID"
            # Without the network's CA (and client certificate) nothing gets through.
            async with NodeClient(spec.url("Org1"), config.member("Org1", "admin")) as stranger:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await stranger.state()

        asyncio.run(write())
        bench = runner.invoke(
            bench_network, [*args, "--transactions", "20", "--accounts", "10", "--json"]
        )
        assert bench.exit_code == 0, bench.output
        assert json.loads(bench.output)["nats_publish_acks_per_s"] > 0  # NATS over TLS too
        again = runner.invoke(network, ["up", *args, "--no-tls"])
        assert again.exit_code == 2
        assert "created with TLS" in again.output
    finally:
        runner.invoke(network, ["down", *args])
