"""The orderers' chain rule: block N is judged with the membership in force at N (unit level;
the JetStream scenario is in test_jetstream.py)."""

from __future__ import annotations

import asyncio
import dataclasses

from careledger.identity.msp import Membership
from careledger.ledger.block import Block, make_block
from careledger.node.consortium import ConsortiumConfig
from careledger.ordering.chain_rule import ChainHead, ChainRule, PeerChainView
from careledger.ordering.jetstream_streams import TX_LAST_HEADER
from careledger.ordering.solo import sign_block
from careledger.validation.genesis import genesis_membership, parse_genesis_tx


class FakePeer:
    """A committing peer: ``blocks`` committed so far and the membership after them."""

    def __init__(self, membership: Membership) -> None:
        self.blocks: list[Block] = []
        self.current = membership

    def height(self) -> int:
        return len(self.blocks)

    def committed_block(self, number: int) -> Block:
        return self.blocks[number]

    def membership(self) -> Membership:
        return self.current


def block_after(genesis: Block, config: ConsortiumConfig, org: str) -> Block:
    block = make_block(1, genesis.header.hash(), [b"tx"], 1)
    return sign_block(block, config.member(org, "orderer0"))


def judge(rule: ChainRule, head: ChainHead, block: Block) -> ChainHead | None:
    return asyncio.run(rule.successor(head, block.to_bytes(), {TX_LAST_HEADER: "1"}, 2))


def test_without_a_peer_the_genesis_membership_judges(consortium: ConsortiumConfig) -> None:
    genesis = consortium.genesis()
    rule = ChainRule(genesis)
    head = ChainHead(0, genesis.header.hash(), 1, 0)
    assert judge(rule, head, block_after(genesis, consortium, "Org2")) is not None
    by_client = sign_block(
        make_block(1, genesis.header.hash(), [b"tx"], 1), consortium.member("Org2", "client0")
    )
    assert judge(rule, head, by_client) is None


def test_a_peer_view_refuses_an_orderer_revoked_before_the_block(
    consortium: ConsortiumConfig,
) -> None:
    genesis = consortium.genesis()
    membership = genesis_membership(parse_genesis_tx(genesis.transactions[0]))
    serial = consortium.member("Org1", "orderer0").cert.serial
    revoked = dataclasses.replace(membership, revoked={("Org1", serial)}, _cache={})
    peer = FakePeer(revoked)
    peer.blocks.append(genesis)
    rule = ChainRule(genesis, PeerChainView(peer))
    head = ChainHead(0, genesis.header.hash(), 1, 0)
    assert judge(rule, head, block_after(genesis, consortium, "Org1")) is None
    assert judge(rule, head, block_after(genesis, consortium, "Org2")) is not None


def test_a_block_the_peer_holds_is_recognised_by_its_hash(consortium: ConsortiumConfig) -> None:
    # Replaying history: block 1 was signed by Org1's orderer before it was revoked; the peer
    # committed it, so it is block 1 even though the current membership refuses its signer.
    genesis = consortium.genesis()
    membership = genesis_membership(parse_genesis_tx(genesis.transactions[0]))
    serial = consortium.member("Org1", "orderer0").cert.serial
    peer = FakePeer(dataclasses.replace(membership, revoked={("Org1", serial)}, _cache={}))
    first = block_after(genesis, consortium, "Org1")
    peer.blocks += [genesis, first]
    rule = ChainRule(genesis, PeerChainView(peer))
    head = ChainHead(0, genesis.header.hash(), 1, 0)
    assert judge(rule, head, first) is not None
    # Same header, signed by another orderer: not the block the peer committed.
    assert judge(rule, head, block_after(genesis, consortium, "Org2")) is None


def test_the_view_waits_for_the_peer_to_commit_the_previous_block(
    consortium: ConsortiumConfig,
) -> None:
    genesis = consortium.genesis()
    peer = FakePeer(genesis_membership(parse_genesis_tx(genesis.transactions[0])))
    view = PeerChainView(peer, poll=0.001)

    async def scenario() -> None:
        waiting = asyncio.create_task(view.judge_as_of(1))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        peer.blocks.append(genesis)
        assert isinstance(await asyncio.wait_for(waiting, 5), Membership)

    asyncio.run(scenario())
