"""A node killed with SIGKILL in the middle of committing restarts to a consistent state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from careledger.node.consortium import init_consortium, load_config
from careledger.node.network import EmbeddedNetwork
from careledger.validation.chain import verify_chain

WORKLOAD = """
import asyncio, random, sys
from careledger.node.network import EmbeddedNetwork

async def main(directory, workers):
    net = EmbeddedNetwork.open(directory, workers=workers)
    await net.start()
    admin1, admin2 = net.gateway("Org1", "admin"), net.gateway("Org2", "admin")
    if await admin1.evaluate("_gov", "contract", ["tokens"]) is None:
        p = await admin1.submit("_gov", "propose", ["contract", {"name": "tokens",
            "version": "1.0", "policy": "2 OF (Org1, Org2, Org3)"}])
        await admin2.submit("_gov", "approve", [p.result["id"]])
        for i in range(50):
            await admin1.submit("tokens", "mint", [f"a{i}", 1000])
    client = net.gateway("Org1")
    print("ready", flush=True)
    rng = random.Random()
    async def one():
        a, b = rng.sample(range(50), 2)
        try:
            await client.submit("tokens", "transfer", [f"a{a}", f"a{b}", 1], retries=0)
        except Exception:
            pass
    while True:
        await asyncio.gather(*(one() for _ in range(64)))

asyncio.run(main(sys.argv[1], sys.argv[2] == "workers"))
"""


def _supply(directory: Path) -> tuple[list[int], list[bytes], int]:
    async def check() -> tuple[list[int], list[bytes], int]:
        async with EmbeddedNetwork.open(directory) as net:
            heights = [p.height() for p in net.peers.values()]
            assert heights == [p.blocks.height() for p in net.peers.values()]
            roots = [p.state.state_root() for p in net.peers.values()]
            supply = await net.gateway("Org1").evaluate("tokens", "supply", [])
            return heights, roots, supply

    return asyncio.run(check())


@pytest.mark.parametrize(
    ("delay", "mode"),
    [(0.3, "inline"), (0.9, "inline"), (0.3, "workers"), (0.9, "workers")],
)
def test_sigkill_mid_commit_then_restart_is_consistent(
    tmp_path: Path, delay: float, mode: str
) -> None:
    """With ``workers`` the whole process group is killed: the event loop and every peer worker
    (each possibly in the middle of its own commit)."""
    init_consortium(tmp_path, ["Org1", "Org2", "Org3"])
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD, str(tmp_path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
        time.sleep(delay)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL

    heights, roots, supply = _supply(tmp_path)
    assert len(set(heights)) == 1, heights
    assert len(set(roots)) == 1
    assert supply == 50 * 1000  # transfers conserve points whatever was cut off
    config = load_config(tmp_path)
    genesis = config.genesis().header.hash()
    for org in config.org_ids:
        report = verify_chain(config.data_dir(org) / "blocks.log", genesis_hash=genesis)
        assert report.blocks == heights[0]
        assert report.state_root == roots[0]
