"""The jetstream ordering backend against a real 3-server NATS JetStream cluster (R3 streams)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from careledger.errors import InvalidInput
from careledger.ledger.block import make_block
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import decode_envelope, tx_id_of
from careledger.netctl.nats_cluster import NatsCluster
from careledger.ordering.jetstream import JetStreamOrdering
from careledger.ordering.jetstream_streams import TX_LAST_HEADER, publish
from careledger.ordering.solo import sign_block
from tests.harness import endorsed, new_consortium
from tests.ordering.jsnet import (
    JetStreamNetwork,
    approve_contract,
    assert_same_chain,
    balances_of,
    jetstream_network,
    open_accounts,
    revoke_member,
    settings_for,
)


def tx_ids_in_chain(net: JetStreamNetwork, org: str = "Org1") -> list[tuple[str, ValidationCode]]:
    found = []
    for block in net.peers[org].blocks:
        if block.number == 0:
            continue
        for raw, code in zip(block.transactions, block.codes, strict=True):
            found.append((tx_id_of(decode_envelope(raw).proposal), code))
    return found


async def tx_stream_count(net: JetStreamNetwork) -> int:
    client = next(iter(net.clients.values()))
    info = await client._js.stream_info(net.settings.tx_stream)
    return int(info.state.messages)


def test_blocks_flow_and_every_peer_commits(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster)) as net:
            await approve_contract(net, "tokens")
            await open_accounts(net, {"alice": 50, "bob": 0})
            await net.gateway("Org1").submit("tokens", "transfer", ["alice", "bob", 20])
            await net.settle()
            for org in config.org_ids:
                assert await balances_of(net, ["alice", "bob"], org) == [30, 20]
            chain = assert_same_chain(net)
            assert len(chain) >= 3
            # Every tx message is in exactly one block: nothing skipped, nothing twice.
            ids = tx_ids_in_chain(net)
            assert len(ids) == len({i for i, _ in ids}) == await tx_stream_count(net)
            assert all(code is ValidationCode.VALID for _, code in ids)

    asyncio.run(scenario())


def test_racing_replicas_make_one_chain(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    """Two replicas (Org1, Org2) cut every block concurrently; one append wins each number."""

    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster)) as net:
            await approve_contract(net, "tokens")
            gateways = [net.gateway(org) for org in config.org_ids]
            await asyncio.gather(
                *(gateways[i % 3].submit("tokens", "open", [f"acct{i}"]) for i in range(60))
            )
            await net.settle()
            chain = assert_same_chain(net)
            ids = tx_ids_in_chain(net)
            assert len(ids) == len({i for i, _ in ids}) == await tx_stream_count(net)
            assert sum(code is ValidationCode.VALID for _, code in ids) == 62
            cut = {org: o.blocks_cut for org, o in net.orderers.items()}
            lost = sum(o.races_lost for o in net.orderers.values())
            assert sum(cut.values()) == len(chain) - 1, "every block after genesis was won once"
            print(f"blocks {len(chain)}, won per replica {cut}, races lost {lost}")

    asyncio.run(scenario())


def test_same_transaction_twice_commits_once(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster)) as net:
            await approve_contract(net, "tokens")
            tx_id, envelope = await endorsed(net.gateway("Org1"), "tokens", "open", ["carol"])
            raw = envelope.to_bytes()
            before = await tx_stream_count(net)
            # The same envelope through two gateways' connections, concurrently and again.
            await asyncio.gather(
                net.clients["Org1"].broadcast(raw), net.clients["Org2"].broadcast(raw)
            )
            await net.clients["Org3"].broadcast(raw)
            assert await tx_stream_count(net) == before + 1, "the stream dropped the re-submissions"
            await asyncio.wait_for(net.peers["Org1"].wait_for(tx_id), 10)
            # Past the stream's duplicate window (simulated: published without Nats-Msg-Id),
            # the orderer replicas drop the copy: they read the transaction id before.
            await publish(net.clients["Org1"]._js, net.settings.tx_subject, raw, {}, 2.0)
            await net.gateway("Org2").submit("tokens", "open", ["dave"])
            await net.settle()
            assert [c for i, c in tx_ids_in_chain(net) if i == tx_id] == [ValidationCode.VALID]
            # Replicas that forgot it (restarted; or past their window too): the peers'
            # duplicate check marks the copy invalid.
            for org in ("Org1", "Org2"):
                await net.orderers.pop(org).kill()
            await asyncio.gather(*(net.start_orderer(org) for org in ("Org1", "Org2")))
            await publish(net.clients["Org1"]._js, net.settings.tx_subject, raw, {}, 2.0)
            await net.gateway("Org2").submit("tokens", "open", ["erin"])
            await net.settle()
            assert_same_chain(net)
            codes = [c for i, c in tx_ids_in_chain(net) if i == tx_id]
            assert codes == [ValidationCode.VALID, ValidationCode.DUPLICATE_TXID]

    asyncio.run(scenario())


def test_broadcast_refuses_malformed_envelopes(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        client = await JetStreamOrdering.connect(settings_for(nats_cluster))
        try:
            for bad in (b"not cbor", os.urandom(64)):
                try:
                    await client.broadcast(bad)
                except InvalidInput:
                    continue
                raise AssertionError("a malformed envelope was accepted")
        finally:
            await client.close()

    asyncio.run(scenario())


def test_one_orderer_replica_killed_the_other_keeps_cutting(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster)) as net:
            await approve_contract(net, "tokens")
            await net.orderers.pop("Org1").kill()
            survivor = net.orderers["Org2"]
            won = survivor.blocks_cut
            await open_accounts(net, {"erin": 5, "frank": 7})
            await net.settle()
            assert survivor.blocks_cut > won
            assert await balances_of(net, ["erin", "frank"], "Org3") == [5, 7]
            assert_same_chain(net)
            # The killed replica comes back and follows the chain from where it is now.
            back = await net.start_orderer("Org1")
            assert back.head is not None
            assert back.head.number == len(assert_same_chain(net)) - 1
            await net.gateway("Org3").submit("tokens", "open", ["gina"])
            await net.settle()
            assert_same_chain(net)

    asyncio.run(scenario())


def test_forged_blocks_in_the_stream_are_refused_by_every_peer(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster)) as net:
            await approve_contract(net, "tokens")
            await net.settle()
            peer = net.peers["Org1"]
            last = peer.blocks.get(peer.blocks.height() - 1)
            n, prev = last.number + 1, last.header.hash()
            txs = list(last.transactions)
            # Signed by a client (not an orderer); signed by a real orderer over a wrong previous
            # hash; a bad signature; bytes that are not a block at all.
            by_client = sign_block(make_block(n, prev, txs, 1), config.member("Org3", "client0"))
            wrong_prev = sign_block(
                make_block(n, bytes(32), txs, 1), config.member("Org1", "orderer0")
            )
            bad_sig = sign_block(make_block(n, prev, txs, 1), config.member("Org2", "orderer0"))
            bad_sig.signature = bytes(64)
            js = net.clients["Org1"]._js
            forged = [by_client.to_bytes(), wrong_prev.to_bytes(), bad_sig.to_bytes(), b"junk"]
            for raw in forged:
                await publish(js, net.settings.blocks_subject, raw, {TX_LAST_HEADER: "999"}, 2.0)
            await open_accounts(net, {"hank": 3})
            await net.settle()
            chain = assert_same_chain(net)
            assert {b.header.hash() for b in (by_client, wrong_prev, bad_sig)}.isdisjoint(chain)
            assert all(p.rejected_blocks == 3 for p in net.peers.values())
            assert await balances_of(net, ["hank"], "Org2") == [3]

    asyncio.run(scenario())


def test_a_peer_catches_up_after_downtime(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster)) as net:
            await approve_contract(net, "tokens")
            await net.stop_peer("Org3")
            await open_accounts(net, {"ivan": 9})  # Org1 and Org2 endorse (2 of 3)
            await net.start_peer("Org3")
            await net.settle()
            assert_same_chain(net)
            assert await balances_of(net, ["ivan"], "Org3") == [9]

    asyncio.run(scenario())


def test_a_revoked_orderer_cannot_stop_the_chain(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        settings = settings_for(nats_cluster)
        async with jetstream_network(config, settings, orderers=("Org1",)) as net:
            await approve_contract(net, "tokens")
            await revoke_member(net, "Org1", "orderer0")
            # Org1's replica does not know it is revoked: the block it cuts next is refused by
            # every peer, so this submission waits for another replica.
            pending = asyncio.create_task(open_accounts(net, {"rita": 4}))
            while not all(p.rejected_blocks for p in net.peers.values()):
                await asyncio.sleep(0.02)
            assert not pending.done()
            # Org2's replica, judging blocks with its peer's membership, skips the revoked
            # replica's blocks (it would otherwise take one as block N and cut on top of it).
            survivor = await net.start_orderer("Org2", peer_view=True)
            await asyncio.wait_for(pending, 30)
            await net.settle()
            assert survivor.blocks_cut >= 2  # the open and the mint
            assert await balances_of(net, ["rita"], "Org3") == [4]
            chain = assert_same_chain(net)
            signers = {net.peers["Org1"].blocks.get(n).signer for n in range(len(chain))}
            assert config.member("Org2", "orderer0").identity in signers

    asyncio.run(scenario())


def test_a_replica_with_a_peer_restarts_from_the_peers_head(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster), orderers=("Org1",)) as net:
            await approve_contract(net, "tokens")
            await open_accounts(net, {"sam": 1, "tess": 2})
            await net.settle()
            height = net.peers["Org2"].height()
            assert height >= 5
            scanning = await net.start_orderer("Org3")  # no peer: scans the whole stream
            assert scanning.messages_read >= height
            resuming = await net.start_orderer("Org2", peer_view=True)
            assert resuming.messages_read <= 2  # the peer's last block, then the stream's end
            assert resuming.head is not None
            assert resuming.head.number == height - 1
            assert resuming.head == scanning.head
            # It cuts on from there like any replica.
            await net.orderers.pop("Org1").close()
            await net.orderers.pop("Org3").close()
            await open_accounts(net, {"uma": 3})
            await net.settle()
            assert resuming.blocks_cut >= 2
            assert await balances_of(net, ["uma"], "Org3") == [3]
            assert_same_chain(net)

    asyncio.run(scenario())


def test_a_replica_that_knows_it_is_revoked_stops_cutting(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        settings = settings_for(nats_cluster)
        async with jetstream_network(config, settings, peer_view=True) as net:
            await approve_contract(net, "tokens")
            await revoke_member(net, "Org1", "orderer0")
            revoked, survivor = net.orderers["Org1"], net.orderers["Org2"]
            cut_before = revoked.blocks_cut
            await open_accounts(net, {"vera": 2, "walt": 5})
            await net.settle()
            assert await balances_of(net, ["vera", "walt"], "Org3") == [2, 5]
            assert revoked.blocks_cut == cut_before  # its peer says it is revoked
            assert revoked.refused_to_sign > 0
            assert survivor.blocks_cut > 0
            assert all(p.rejected_blocks == 0 for p in net.peers.values())  # no junk published
            assert_same_chain(net)

    asyncio.run(scenario())
