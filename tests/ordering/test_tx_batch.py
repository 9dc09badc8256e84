"""Several envelopes per tx-stream message (``tx_batching``), against a real 3-server cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import Endorsement, Envelope
from careledger.netctl.nats_cluster import NatsCluster
from careledger.ordering.jetstream_streams import MSG_ID, publish
from careledger.ordering.tx_batch import (
    TX_BATCH_HEADER,
    RecentTxIds,
    encode_batch,
    envelopes_of,
)
from tests.harness import endorsed, new_consortium
from tests.ordering.jsnet import (
    approve_contract,
    assert_same_chain,
    jetstream_network,
    settings_for,
)
from tests.ordering.test_jetstream import tx_ids_in_chain, tx_stream_count


def test_concurrent_submits_share_messages_and_all_commit(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        settings = settings_for(nats_cluster, tx_batching=True)
        async with jetstream_network(config, settings) as net:
            await approve_contract(net, "tokens")
            before = await tx_stream_count(net)
            gateways = [net.gateway(org) for org in config.org_ids]
            outs = await asyncio.gather(
                *(gateways[i % 3].submit("tokens", "open", [f"acct{i}"]) for i in range(90))
            )
            assert all(o.code is ValidationCode.VALID for o in outs)
            await net.settle()
            assert_same_chain(net)
            ids = tx_ids_in_chain(net)
            assert len(ids) == len({i for i, _ in ids}), "no transaction twice"
            assert {o.tx_id for o in outs} <= {i for i, _ in ids}
            messages = await tx_stream_count(net) - before
            carried = sum(c.publisher.envelopes for c in net.clients.values() if c.publisher)
            assert carried >= 90
            assert messages < 90, "concurrent envelopes shared messages"

    asyncio.run(scenario())


def test_same_transaction_in_two_batches_commits_once(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster, tx_batching=True)) as net:
            await approve_contract(net, "tokens")
            tx_id, envelope = await endorsed(net.gateway("Org1"), "tokens", "open", ["carol"])
            _, other = await endorsed(net.gateway("Org2"), "tokens", "open", ["dave"])
            raw = envelope.to_bytes()
            js = net.clients["Org1"]._js
            # Two different batches carrying the same transaction: the stream keeps both
            # messages (different ids), the orderer replicas drop the repeat.
            for i, batch in enumerate(([raw, other.to_bytes()], [raw])):
                headers = {MSG_ID: f"test-batch-{i}", TX_BATCH_HEADER: "1"}
                await publish(js, net.settings.tx_subject, encode_batch(batch), headers, 2.0)
            await asyncio.wait_for(net.peers["Org1"].wait_for(tx_id), 10)
            await net.gateway("Org3").submit("tokens", "open", ["erin"])
            await net.settle()
            assert_same_chain(net)
            codes = [c for i, c in tx_ids_in_chain(net) if i == tx_id]
            assert codes == [ValidationCode.VALID]

    asyncio.run(scenario())


def test_malformed_batch_messages_are_skipped(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        async with jetstream_network(config, settings_for(nats_cluster, tx_batching=True)) as net:
            await approve_contract(net, "tokens")
            js = net.clients["Org1"]._js
            junk = [
                (b"not cbor", "1"),
                (encode_batch([]), "1"),
                (b"\x82\x01\x02", "1"),  # an array, not of byte strings
                (encode_batch([b"x"]), "2"),  # a format this version does not know
            ]
            for i, (data, version) in enumerate(junk):
                headers = {MSG_ID: f"junk-{i}", TX_BATCH_HEADER: version}
                await publish(js, net.settings.tx_subject, data, headers, 2.0)
            out = await net.gateway("Org2").submit("tokens", "open", ["frank"])
            assert out.code is ValidationCode.VALID
            await net.settle()
            assert_same_chain(net)

    asyncio.run(scenario())


def test_message_format() -> None:
    assert envelopes_of(b"raw", None) == [b"raw"]
    assert envelopes_of(b"raw", {"Other": "x"}) == [b"raw"]
    assert envelopes_of(encode_batch([b"a", b"b"]), {TX_BATCH_HEADER: "1"}) == [b"a", b"b"]
    assert envelopes_of(b"\xff", {TX_BATCH_HEADER: "1"}) == []


def _envelope(proposal: bytes) -> bytes:
    return Envelope(proposal, b"s" * 64, b"r", [Endorsement(b"e", b"s" * 64)]).to_bytes()


def test_recent_ids_drop_repeats_within_the_window() -> None:
    recent = RecentTxIds(window=10.0)
    a, b = _envelope(b"proposal a"), _envelope(b"proposal b")
    # The same proposal with other endorsements is the same transaction id.
    a2 = Envelope(b"proposal a", b"t" * 64, b"r2", []).to_bytes()
    assert recent.fresh([a, b, a2], now=0.0) == [a, b]
    assert recent.fresh([a], now=5.0) == []
    assert recent.dropped == 2
    assert recent.fresh([a], now=10.5) == [a], "forgotten after the window"
    # Malformed envelopes have no transaction id: kept (the peers mark them invalid).
    junk = b"not an envelope"
    assert recent.fresh([junk, junk], now=11.0) == [junk, junk]
