"""A node killed while it endorses batches under load, and one killed under batched submits
(slow): no acknowledged transaction lost, every node converges to the same state root after it
restarts.

The network is `network up` on JetStream, so endorsement between nodes travels as batches over
NATS (docs/endorsement-transport.md); the killed node is answering batches for the others when
SIGKILL arrives (it is frozen with SIGSTOP just before, so batches are surely in flight), so
those proposals get no reply; the gateways time out on them and ask another organisation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from careledger.api.client import NodeClient, sign_proposal
from careledger.api.models import SubmitOut
from careledger.bench.network import approve_tokens
from careledger.cli.network import network
from careledger.daemon.config import load_node_config, save_node_config
from careledger.errors import CareLedgerError
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


async def batch_load(
    clients: list[NodeClient], ledger: Ledger, stop: asyncio.Event, tag: str, workers: int
) -> None:
    """Mint fresh accounts, 16 a request (``POST /v1/submit-batch``), until ``stop``; only the
    entries answered VALID count as acknowledged."""

    async def worker(w: int) -> None:
        i = 0
        while not stop.is_set():
            client = clients[(w + i) % len(clients)]
            items = [
                sign_proposal(client.identity, "tokens", "mint", [f"{tag}-{w}-{i}-{k}", 1])
                for k in range(16)
            ]
            try:
                outs = await client.submit_batch(items)
            except (CareLedgerError, httpx.HTTPError) as exc:
                ledger.failures[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
            else:
                for out in outs:
                    if isinstance(out, SubmitOut):
                        ledger.acked.append(out.tx_id)
                    else:
                        ledger.failures[type(out).__name__] += 1
            i += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))


@pytest.mark.slow
def test_orderer_node_killed_under_batched_submits_loses_no_acknowledged_tx(
    batch_net: NetworkLayout,
) -> None:
    """Org1's node (an orderer replica and an endorser) SIGKILLed while Org2's and Org3's
    gateways put several envelopes in each tx message and clients submit 16 a request."""
    layout = batch_net
    spec = layout.load()
    control.down(layout)
    for org in spec.orgs:  # opt-in (docs/ordering.md): on for this network
        path = layout.node_config(org)
        config = load_node_config(path)
        ordering = dataclasses.replace(config.ordering, tx_batching=True)
        save_node_config(dataclasses.replace(config, ordering=ordering), path)
    asyncio.run(restart(layout))
    ledger = Ledger()

    async def main() -> None:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, layout)
            stop = asyncio.Event()
            task = asyncio.create_task(
                batch_load([clients["Org2"], clients["Org3"]], ledger, stop, "tb", workers=6)
            )
            await asyncio.sleep(4)
            await asyncio.to_thread(kill, layout, "Org1")
            before = len(ledger.acked)
            await asyncio.sleep(REQUEST_TIMEOUT + 4)
            assert len(ledger.acked) > before  # Org2's replica cuts, Org2 and Org3 endorse
            await restart(layout)
            for org in spec.orgs:  # still batching after the restart
                assert load_node_config(layout.node_config(org)).ordering.tx_batching
            await asyncio.sleep(2)
            stop.set()
            await task
            height = await check_exactly_once(spec, clients, ledger.acked)
            assert height > 5

    asyncio.run(main())
    assert len(ledger.acked) > 100, ledger
    print(f"{len(ledger.acked)} acknowledged, all committed once; failures {dict(ledger.failures)}")
