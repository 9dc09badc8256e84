"""The jetstream backend when NATS servers fail: each test runs its own 3-server cluster."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from careledger.errors import OrderingError
from careledger.ledger.codes import ValidationCode
from tests.harness import endorsed, new_consortium
from tests.ordering.conftest import own_cluster
from tests.ordering.jsnet import (
    approve_contract,
    assert_same_chain,
    balances_of,
    jetstream_network,
    open_accounts,
    settings_for,
)


def test_without_quorum_broadcast_fails_fast_then_service_returns(tmp_path: Path) -> None:
    with own_cluster(tmp_path / "nats") as cluster:

        async def scenario() -> None:
            config = new_consortium(tmp_path / "consortium")
            settings = settings_for(cluster, publish_timeout=1.0, broadcast_timeout=2.0)
            async with jetstream_network(config, settings) as net:
                await approve_contract(net, "tokens")
                await open_accounts(net, {"jill": 1})
                cluster.kill(1)
                cluster.kill(2)
                _, envelope = await endorsed(net.gateway("Org1"), "tokens", "open", ["kim"])
                started = time.monotonic()
                with pytest.raises(OrderingError, match="retry"):
                    await net.clients["Org1"].broadcast(envelope.to_bytes())
                failed_after = time.monotonic() - started
                assert failed_after < 4.0
                cluster.restart(1, wait=False)
                cluster.restart(2)
                back = time.monotonic()
                while True:
                    try:
                        await net.gateway("Org2").submit("tokens", "open", ["lee"])
                        break
                    except OrderingError:
                        assert time.monotonic() - back < 30, "ordering did not come back"
                await net.settle()
                assert_same_chain(net)
                assert await balances_of(net, ["jill", "lee"], "Org3") == [1, 0]
                print(
                    f"broadcast failed after {failed_after:.2f}s without quorum; "
                    f"service back {time.monotonic() - back:.2f}s after the restarts"
                )

        asyncio.run(scenario())


@pytest.mark.slow
def test_stream_leader_killed_under_load_loses_no_acknowledged_tx(tmp_path: Path) -> None:
    with own_cluster(tmp_path / "nats") as cluster:

        async def scenario() -> None:
            config = new_consortium(tmp_path / "consortium")
            settings = settings_for(cluster, publish_timeout=1.0, broadcast_timeout=3.0)
            async with jetstream_network(config, settings) as net:
                await approve_contract(net, "tokens")
                acked: dict[str, float] = {}
                errors = 0
                stop = asyncio.Event()

                async def worker(w: int) -> None:
                    nonlocal errors
                    gateway = net.gateway(config.org_ids[w % 3])
                    client = net.clients[config.org_ids[w % 3]]
                    i = 0
                    while not stop.is_set():
                        tx_id, env = await endorsed(gateway, "tokens", "open", [f"w{w}-{i}"])
                        i += 1
                        while not stop.is_set():
                            try:
                                await client.broadcast(env.to_bytes())  # same tx id: idempotent
                                acked[tx_id] = time.monotonic()
                                break
                            except OrderingError:
                                errors += 1

                workers = [asyncio.create_task(worker(w)) for w in range(6)]
                await asyncio.sleep(3)
                leader = await cluster.stream_leader(settings.tx_stream)
                blocks_leader = await cluster.stream_leader(settings.blocks_stream)
                killed_at = time.monotonic()
                cluster.kill(cluster.index_of(leader))
                await asyncio.sleep(8)
                stop.set()
                await asyncio.gather(*workers)
                after_kill = sorted(t for t in acked.values() if t >= killed_at)
                before_kill = sorted(t for t in acked.values() if t < killed_at)
                assert after_kill, "no transaction was acknowledged after the leader died"
                # The pause: the longest gap between acknowledgements from the kill on.
                times = [killed_at, *after_kill]
                pause = max(b - a for a, b in itertools.pairwise(times))
                # Every acknowledged transaction is committed, once, on every peer.
                for tx_id in acked:
                    await asyncio.wait_for(net.peers["Org1"].wait_for(tx_id), 30)
                await net.settle(timeout=30)
                chain_len = len(assert_same_chain(net))
                peer = net.peers["Org2"]
                for tx_id in acked:
                    record = peer.state.tx(tx_id)
                    assert record is not None
                    assert ValidationCode(record.code) is ValidationCode.VALID
                rate = len(before_kill) / max(before_kill[-1] - before_kill[0], 1e-9)
                print(
                    f"killed {leader} (tx stream leader; blocks leader {blocks_leader}): "
                    f"longest pause in acks after the kill {pause:.2f}s; {len(acked)} acked, "
                    f"{errors} broadcast errors retried; {rate:.0f} tx/s before; "
                    f"{chain_len} blocks"
                )
                cluster.restart(cluster.index_of(leader))

        asyncio.run(scenario())
