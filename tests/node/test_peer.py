"""A peer after a crash: blocks appended but not yet applied to state are replayed on open, a
damaged or missing block file tail is recovered from the other peers, and a block file that does
not match the state is refused rather than trusted."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest

from careledger.contracts.registry import default_registry
from careledger.crypto.keys import BatchVerifier
from careledger.errors import ChainVerificationError, StorageError
from careledger.ledger.block import Block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode as Code
from careledger.ledger.state.base import BlockUpdate
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.ledger.transaction import KVWrite, NsRWSet
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from careledger.node.peer import Peer
from tests.harness import (
    approve_contract,
    assert_consistent,
    balances,
    endorsed,
    envelope_for,
    fund,
    order,
    peers_of,
    running,
    settle,
)


class CrashingState(SQLiteStateStore):
    """A state store whose commit of one block fails, as if the process died right there."""

    def __init__(self, path: Path, crash_at: int) -> None:
        super().__init__(path)
        self.crash_at = crash_at

    def commit(self, update: BlockUpdate) -> None:
        if update.number == self.crash_at:
            self.crash_at = -1
            raise StorageError(f"simulated crash before the state commit of block {update.number}")
        super().commit(update)


@dataclasses.dataclass
class Finished:
    blocks: list[Block]
    state_root: bytes


async def workload(config: ConsortiumConfig) -> Finished:
    """Tokens approved (blocks 1, 2), accounts funded, a few transfers with a conflict."""
    async with running(config) as net:
        await fund(net, {"a1": 40, "a2": 0})
        client = net.gateway("Org1")
        await asyncio.gather(
            *(client.submit("tokens", "transfer", ["a1", "a2", 2], retries=0) for _ in range(3)),
            return_exceptions=True,
        )
        await client.submit("tokens", "transfer", ["a2", "a1", 1])
        reference = net.peers["Org1"]
        return Finished(list(reference.blocks), reference.state.state_root())


def open_replica(config: ConsortiumConfig, directory: Path, crash_at: int = -1) -> Peer:
    directory.mkdir(exist_ok=True)
    state = CrashingState(directory / "state.db", crash_at)
    return Peer(
        config.member("Org3", "peer0"),
        state,
        BlockStore(directory / "blocks.log"),
        default_registry(),
        BatchVerifier(workers=1),
    )


def close_replica(peer: Peer) -> None:
    peer.close()
    peer.validator.verifier.close()


def test_a_crash_between_block_append_and_state_commit_is_replayed_on_open(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    finished = asyncio.run(workload(consortium))
    crash_at = len(finished.blocks) - 1
    replica_dir = tmp_path / "replica"

    peer = open_replica(consortium, replica_dir, crash_at)
    try:
        for block in finished.blocks[:crash_at]:
            peer.commit_block(block)
        with pytest.raises(StorageError, match="simulated crash"):
            peer.commit_block(finished.blocks[crash_at])
        assert (peer.blocks.height(), peer.state.height()) == (crash_at + 1, crash_at)
    finally:
        close_replica(peer)

    peer = open_replica(consortium, replica_dir)
    try:
        assert peer.recovered_blocks == 1
        assert peer.state.height() == peer.blocks.height() == len(finished.blocks)
        assert peer.state.state_root() == finished.state_root
        assert [b.codes for b in peer.blocks] == [b.codes for b in finished.blocks]
    finally:
        close_replica(peer)


async def governance_workload(config: ConsortiumConfig) -> Finished:
    """Blocks whose validity depends on governance changes made in earlier blocks."""
    async with running(config, contracts=()) as net:
        # Refused while tokens is not approved: validation learns "no such contract".
        early = NsRWSet("tokens", [], [], [KVWrite("acct/a0", b"\xa0")])
        _, envelope = envelope_for(
            config.member("Org1", "client0"),
            "tokens",
            "open",
            ["a0"],
            rwsets=[early],
            endorsers=peers_of(config, "Org1", "Org2"),
        )
        await order(net, envelope)
        await approve_contract(net, "tokens")
        await fund(net, {"b1": 20, "b2": 0}, owner="Org2")
        _, pending = await endorsed(net.gateway("Org2"), "tokens", "transfer", ["b1", "b2", 5])
        revoke = {"org": "Org2", "serial": "4"}
        proposal = await net.gateway("Org1", "admin").submit(
            "_gov", "propose", ["revoke_member", revoke]
        )
        await settle(net)
        await net.gateway("Org3", "admin").submit("_gov", "approve", [proposal.result["id"]])
        await order(net, pending)  # by a member revoked in the block before
        await net.gateway("Org2", "admin").submit("tokens", "transfer", ["b1", "b2", 1])
        await settle(net)
        reference = net.peers["Org1"]
        return Finished(list(reference.blocks), reference.state.state_root())


def test_state_commits_lost_after_the_block_file_was_synced_are_all_replayed(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    # SQLite runs with synchronous=NORMAL: a power cut can lose the last state commits while
    # the fsynced block file keeps the blocks. The replay crosses a contract approval and a
    # revocation, so each block must be validated with the governance in force at that block.
    finished = asyncio.run(governance_workload(consortium))
    codes = {c for b in finished.blocks for c in b.codes}
    assert {Code.UNKNOWN_CONTRACT, Code.CREATOR_NOT_MEMBER, Code.VALID} <= codes
    replica_dir = tmp_path / "replica"
    peer = open_replica(consortium, replica_dir)
    try:
        peer.commit_block(finished.blocks[0])
    finally:
        close_replica(peer)
    shutil.copy(replica_dir / "state.db", tmp_path / "state-after-genesis.db")
    peer = open_replica(consortium, replica_dir)
    try:
        for block in finished.blocks[1:]:
            peer.commit_block(block)
    finally:
        close_replica(peer)
    shutil.copy(tmp_path / "state-after-genesis.db", replica_dir / "state.db")

    peer = open_replica(consortium, replica_dir)
    try:
        assert peer.recovered_blocks == len(finished.blocks) - 1
        assert peer.state.state_root() == finished.state_root
    finally:
        close_replica(peer)


def test_a_peer_that_fails_mid_run_catches_up_after_restart(
    consortium: ConsortiumConfig,
) -> None:
    async def crash() -> None:
        net = EmbeddedNetwork(consortium)
        await net.start()
        try:
            await approve_contract(net, "tokens")
            await fund(net, {"a1": 40, "a2": 0})
            failing = net.peers["Org3"]

            def crashed(update: BlockUpdate) -> None:
                raise StorageError("simulated crash before the state commit")

            failing.state.commit = crashed  # type: ignore[method-assign]
            await net.gateway("Org1").submit("tokens", "transfer", ["a1", "a2", 5])
            target = net.peers["Org1"].blocks.height()
            while failing.blocks.height() < target:  # Org3 appends the block, then fails
                await asyncio.sleep(0.002)
            assert failing.state.height() == target - 1
        finally:
            # The other peers carried on; stop reports the failed peer but releases everything.
            with pytest.raises(StorageError, match="simulated crash"):
                await net.stop()
            for peer in net.peers.values():
                with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
                    peer.state.get("_gov", "org/Org1")

    async def restart() -> None:
        async with EmbeddedNetwork.open(consortium.dir) as net:
            assert net.peers["Org3"].recovered_blocks == 1
            assert [p.recovered_blocks for p in net.peers.values()] == [0, 0, 1]
            await assert_consistent(net)
            assert await balances(net, ["a1", "a2"], org="Org3") == [35, 5]
            await net.gateway("Org3", "admin").submit("tokens", "mint", ["a2", 1])
            assert await balances(net, ["a1", "a2"], org="Org3") == [35, 6]
            await assert_consistent(net)

    asyncio.run(crash())
    asyncio.run(restart())


def test_a_torn_or_missing_block_file_is_restored_from_the_other_peers(
    consortium: ConsortiumConfig,
) -> None:
    asyncio.run(workload(consortium))
    torn = consortium.data_dir("Org2") / "blocks.log"
    with torn.open("ab") as f:
        f.write(b"\x00\x00\x01\x00\xde\xad")  # the start of a record the crash cut off
    shutil.rmtree(consortium.data_dir("Org3"))  # a peer that lost everything

    async def restart() -> None:
        async with EmbeddedNetwork.open(consortium.dir) as net:
            assert net.peers["Org2"].blocks.truncated_bytes == 6
            await assert_consistent(net)
            assert await balances(net, ["a1", "a2"], org="Org3") == await balances(
                net, ["a1", "a2"], org="Org1"
            )

    asyncio.run(restart())


def test_state_ahead_of_the_block_file_is_refused(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    finished = asyncio.run(workload(consortium))
    replica_dir = tmp_path / "replica"
    peer = open_replica(consortium, replica_dir)
    try:
        for block in finished.blocks:
            peer.commit_block(block)
    finally:
        close_replica(peer)
    (replica_dir / "blocks.log").unlink()
    state = SQLiteStateStore(replica_dir / "state.db")
    blocks = BlockStore(replica_dir / "blocks.log")
    verifier = BatchVerifier(workers=1)
    try:
        with pytest.raises(StorageError, match="block store lost"):
            Peer(consortium.member("Org3", "peer0"), state, blocks, default_registry(), verifier)
    finally:
        state.close()
        blocks.close()
        verifier.close()


def test_stored_codes_that_replay_differently_are_refused(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    finished = asyncio.run(workload(consortium))
    replica_dir = tmp_path / "replica"
    target = next(b.number for b in finished.blocks if Code.MVCC_READ_CONFLICT in b.codes)
    peer = open_replica(consortium, replica_dir)
    try:
        for block in finished.blocks[:target]:
            peer.commit_block(block)
        # Appended claiming every transaction valid, then the process died before the state
        # commit: replay recomputes the conflict and refuses to trust the file.
        codes = [Code.VALID] * len(finished.blocks[target].codes)
        peer.blocks.append(dataclasses.replace(finished.blocks[target], codes=codes))
    finally:
        close_replica(peer)
    state = SQLiteStateStore(replica_dir / "state.db")
    blocks = BlockStore(replica_dir / "blocks.log")
    verifier = BatchVerifier(workers=1)
    try:
        with pytest.raises(StorageError, match=f"block {target}: replayed validation codes"):
            Peer(consortium.member("Org3", "peer0"), state, blocks, default_registry(), verifier)
    finally:
        state.close()
        blocks.close()
        verifier.close()


def test_a_tampered_block_is_refused_and_nothing_is_stored(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    finished = asyncio.run(workload(consortium))
    replica_dir = tmp_path / "replica"
    peer = open_replica(consortium, replica_dir)
    try:
        for block in finished.blocks[:-1]:
            peer.commit_block(block)
        height, root = peer.height(), peer.state.state_root()
        last = finished.blocks[-1]
        txs = [bytes([last.transactions[0][0] ^ 1]) + last.transactions[0][1:]]
        tampered = dataclasses.replace(last, transactions=txs + last.transactions[1:])
        with pytest.raises(ChainVerificationError, match="data hash"):
            peer.commit_block(tampered)
        assert (peer.height(), peer.blocks.height()) == (height, height)
        assert peer.state.state_root() == root
        peer.commit_block(last)
        assert peer.state.state_root() == finished.state_root
    finally:
        close_replica(peer)
