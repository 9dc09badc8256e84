"""The embedded network with peers in worker processes behaves as with peers in process: the same
codes, MVCC conflicts and state on every peer, commit events, restart in either mode, and a
failed worker reported rather than hidden."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings

from careledger.errors import TransactionInvalid
from careledger.ledger.codes import ValidationCode as Code
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from careledger.node.peer import CommitEvent
from careledger.node.workers import PeerWorkerError, WorkerPeer
from tests.harness import approve_contract, assert_consistent, balances, fund, running
from tests.node.test_network import mints, rounds, run_workload


@settings(max_examples=3, deadline=None, derandomize=True)
@given(mints, rounds)
def test_random_concurrent_transfers_with_worker_peers_conserve_points_and_agree(
    minted: dict[str, int], workload: list[list[tuple[str, str, int]]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_workload(Path(tmp) / "consortium", minted, workload, workers=True))


def test_concurrent_spends_with_worker_peers_commit_once_and_conflict_otherwise(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, workers=True) as net:
            assert all(isinstance(p, WorkerPeer) for p in net.peers.values())
            await fund(net, {"a1": 100, "a2": 0})
            client = net.gateway("Org1")
            outcomes = await asyncio.gather(
                *(
                    client.submit("tokens", "transfer", ["a1", "a2", 1], retries=0)
                    for _ in range(8)
                ),
                return_exceptions=True,
            )
            conflicts = [o for o in outcomes if isinstance(o, TransactionInvalid)]
            assert [c.code for c in conflicts] == [Code.MVCC_READ_CONFLICT.name] * 7
            assert await balances(net, ["a1", "a2"]) == [99, 1]
            for peer in net.peers.values():  # every organisation's view records the codes
                assert {peer.state.tx(c.tx_id).code for c in conflicts} == {  # type: ignore[union-attr]
                    Code.MVCC_READ_CONFLICT
                }
            await assert_consistent(net)

    asyncio.run(scenario())


def test_a_worker_peer_does_not_verify_again_what_its_endorsing_side_verified_or_signed(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, workers=True) as net:
            views = {o: p for o, p in net.peers.items() if isinstance(p, WorkerPeer)}
            before = {o: v.checked for o, v in views.items()}
            await fund(net, {"m1": 5, "m2": 7})
            checked = {o: v.checked - before[o] for o, v in views.items()}
            # Org1 endorsed every transaction (its own gateway's): it skipped the creator's and
            # its own signature of each; the others each skipped them only where they endorsed.
            assert checked["Org1"] < max(checked["Org2"], checked["Org3"])
            assert net.signatures_checked() == sum(v.checked for v in views.values())

    asyncio.run(scenario())


def test_commit_events_of_worker_peers_reach_listeners(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, workers=True) as net:
            seen: list[CommitEvent] = []
            net.peers["Org2"].subscribe(seen.append)
            await fund(net, {"e1": 0})
            result = await net.gateway("Org1").submit("tokens", "open", ["e2"])
            await balances(net, ["e2"])
            codes = {tx_id: code for event in seen for tx_id, code in event.tx_codes}
            assert codes[result.tx_id] is Code.VALID
            assert [e.block for e in seen] == sorted({e.block for e in seen})  # in order, once

    asyncio.run(scenario())


def test_a_network_restarts_in_either_mode_where_it_stopped(consortium: ConsortiumConfig) -> None:
    async def run(workers: bool, transfer: int) -> tuple[int, bytes]:
        async with EmbeddedNetwork.open(consortium.dir, workers=workers) as net:
            if transfer == 0:
                await approve_contract(net, "tokens")
                await fund(net, {"a1": 30, "a2": 0})
            await net.gateway("Org1").submit("tokens", "transfer", ["a1", "a2", transfer + 1])
            await assert_consistent(net)
            return net.peers["Org1"].height(), net.peers["Org3"].state.state_root()

    async def scenario() -> None:
        height, root = await run(True, 0)
        async with EmbeddedNetwork.open(consortium.dir) as net:  # in process
            assert {(p.height(), p.state.state_root()) for p in net.peers.values()} == {
                (height, root)
            }
        height2, _ = await run(False, 1)
        height3, _ = await run(True, 2)
        assert height < height2 < height3
        async with EmbeddedNetwork.open(consortium.dir, workers=True) as net:
            assert await balances(net, ["a1", "a2"]) == [30 - 6, 6]

    asyncio.run(scenario())


def test_a_worker_that_dies_is_reported_and_the_others_carry_on(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        net = EmbeddedNetwork(consortium, workers=True)
        await net.start()
        try:
            await approve_contract(net, "tokens")
            pid = net.worker_pid("Org3")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            # Org1's and Org2's peers still commit what Org1's client submits.
            await net.gateway("Org1").submit("tokens", "open", ["after"])
        finally:
            with pytest.raises(PeerWorkerError, match="Org3"):
                await net.stop()

    asyncio.run(scenario())
