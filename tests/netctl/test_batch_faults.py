"""A node killed while it endorses batches under load (slow): no acknowledged transaction lost,
every node converges to the same state root after it restarts.

The network is `network up` on JetStream, so endorsement between nodes travels as batches over
NATS (docs/endorsement-transport.md); the killed node is answering batches for the others when
SIGKILL arrives (it is frozen with SIGSTOP just before, so batches are surely in flight), so
those proposals get no reply; the gateways time out on them and ask another organisation.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner

from careledger.bench.network import approve_tokens
from careledger.cli.network import network
from careledger.daemon.config import load_node_config
from careledger.netctl import control, processes
from careledger.netctl.layout import NetworkLayout
from careledger.netctl.nats_cluster import NatsUnavailable, find_nats_server
from careledger.node.endorse_nats import REQUEST_TIMEOUT
from tests.netctl.consortium import Ledger, admins, check_exactly_once, kill, load, restart


@pytest.fixture
def batch_net(tmp_path: Path) -> Iterator[NetworkLayout]:
    try:
        find_nats_server()
    except NatsUnavailable as exc:
        pytest.skip(str(exc))
    directory = tmp_path / "net"
    try:
        up = CliRunner().invoke(network, ["up", "--dir", str(directory), "--orgs", "3"])
        assert up.exit_code == 0, up.output
        layout = NetworkLayout(directory)

        async def approve() -> None:
            async with AsyncExitStack() as stack:
                await approve_tokens(layout.load(), await admins(stack, layout))

        asyncio.run(approve())
        yield layout
    finally:
        if (directory / "network.toml").exists():
            control.down(NetworkLayout(directory))


@pytest.mark.slow
def test_endorsing_node_killed_mid_batch_loses_no_acknowledged_tx(
    batch_net: NetworkLayout,
) -> None:
    layout = batch_net
    spec = layout.load()
    for org in spec.orgs:
        assert load_node_config(layout.node_config(org)).ordering.endorse_transport == "nats"
    ledger = Ledger()

    async def main() -> None:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, layout)
            stop = asyncio.Event()
            # Many in flight through Org1 and Org3: their gateways batch proposals to Org2.
            task = asyncio.create_task(
                load([clients["Org1"], clients["Org3"]], ledger, stop, "batch", workers=24)
            )
            await asyncio.sleep(4)
            # Freeze Org2 first, so batches sent to it are surely in flight, unanswered, when
            # SIGKILL arrives; the gateways time out on them and ask the other organisation.
            pid = processes.running_pid(layout, "Org2")
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(kill, layout, "Org2")
            before = len(ledger.acked)
            await asyncio.sleep(REQUEST_TIMEOUT + 4)
            assert len(ledger.acked) > before  # Org1 and Org3 endorse each other meanwhile
            await restart(layout)
            await asyncio.sleep(2)
            stop.set()
            await task
            height = await check_exactly_once(spec, clients, ledger.acked)
            assert height > 5

    asyncio.run(main())
    assert len(ledger.acked) > 50, ledger
    print(f"{len(ledger.acked)} acknowledged, all committed once; failures {dict(ledger.failures)}")
