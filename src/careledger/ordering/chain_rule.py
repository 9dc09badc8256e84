"""Which blocks-stream message is chain block N, as an orderer replica decides it.

Peers judge block N's orderer signature against the membership in force after block N-1 (an
orderer revoked by governance, or one of an organisation added later, is judged as of that
block). An orderer replica must decide the same way, or it would follow a block every peer
refuses and cut its successors on top of it: the chain would stop for good.

A replica learns the membership from its own organisation's peer (:class:`PeerChainView`): to
judge block N it waits until that peer has committed blocks 0..N-1. If the peer already holds
block N, that block *is* the chain's block N (the peer accepted it by the same rules) and the
message must equal it (header and signature); otherwise the peer's current membership is the one
in force for N. A replica without a peer (tests, tools) judges with the genesis membership
(:class:`GenesisView`), which is right as long as no orderer is revoked or added.

A replica with a peer also starts from the peer's last block instead of scanning the blocks
stream from its start: without junk in the stream, block N is message N+1, so one read finds it
(:meth:`ChainRule.resume_point`); otherwise the replica scans as before.

Not for: reading the stream or cutting blocks (:mod:`careledger.ordering.jetstream`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from careledger.crypto.keys import verify
from careledger.crypto.merkle import merkle_root
from careledger.errors import EncodingError, MembershipError
from careledger.identity.msp import Membership, Role
from careledger.ledger.block import Block, decode_block
from careledger.ordering.jetstream_streams import TX_LAST_HEADER
from careledger.validation.genesis import genesis_membership, parse_genesis_tx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last block of the chain as an orderer replica knows it."""

    number: int
    hash: bytes
    stream_seq: int
    tx_last: int


class MembershipView(Protocol):
    async def judge_as_of(self, number: int) -> Membership | Block:
        """The membership in force for judging block ``number``, or — when block ``number`` is
        already known — the chain's block ``number`` itself."""
        ...

    def last_known(self) -> Block | None:
        """The last block known to be on the chain (a replica may start from it), or None."""
        ...

    def current(self) -> Membership:
        """The latest membership known (no waiting)."""
        ...


class GenesisView:
    """The genesis membership for every block (a replica without a peer)."""

    def __init__(self, genesis: Block) -> None:
        self.membership = genesis_membership(parse_genesis_tx(genesis.transactions[0]))

    async def judge_as_of(self, number: int) -> Membership | Block:
        return self.membership

    def last_known(self) -> Block | None:
        return None

    def current(self) -> Membership:
        return self.membership


class CommittedChain(Protocol):
    """What :class:`PeerChainView` needs of a peer (:class:`careledger.node.peer.Peer`)."""

    def height(self) -> int: ...

    def committed_block(self, number: int) -> Block: ...

    def membership(self) -> Membership: ...


class PeerChainView:
    """The membership in force at each block, from this organisation's committing peer."""

    def __init__(self, peer: CommittedChain, poll: float = 0.005) -> None:
        self.peer = peer
        self.poll = poll

    async def judge_as_of(self, number: int) -> Membership | Block:
        waited = 0.0
        while self.peer.height() < number:
            if waited >= 10.0 and waited - self.poll < 10.0:
                log.warning("orderer waits for its peer to commit block %d", number - 1)
            await asyncio.sleep(self.poll)
            waited += self.poll
        # No await from here on: the peer commits on this event loop, so what it reports
        # below is one consistent view.
        if self.peer.height() > number:
            return self.peer.committed_block(number)
        return self.peer.membership()

    def last_known(self) -> Block | None:
        height = self.peer.height()
        return self.peer.committed_block(height - 1) if height else None

    def current(self) -> Membership:
        return self.peer.membership()


class ChainRule:
    """Decides whether a blocks-stream message is the next chain block (module docstring)."""

    def __init__(self, genesis: Block, view: MembershipView | None = None) -> None:
        self.genesis = genesis
        self.genesis_hash = genesis.header.hash()
        self.view: MembershipView = view or GenesisView(genesis)

    async def successor(
        self, head: ChainHead | None, data: bytes, headers: dict[str, str] | None, seq: int
    ) -> ChainHead | None:
        """The new head if the message at ``seq`` extends ``head``, else None."""
        try:
            block = decode_block(data)
        except EncodingError:
            return None
        if head is None:
            ok = block.header.hash() == self.genesis_hash and block.signature == (
                self.genesis.signature
            )
            return ChainHead(0, self.genesis_hash, seq, 0) if ok else None
        try:
            tx_last = int((headers or {}).get(TX_LAST_HEADER, ""))
        except ValueError:
            return None
        if (
            block.number != head.number + 1
            or block.header.previous_hash != head.hash
            or tx_last <= head.tx_last
            or merkle_root(block.transactions) != block.header.data_hash
        ):
            return None
        known = await self.view.judge_as_of(block.number)
        if isinstance(known, Block):  # the same header signed by another orderer is not it
            ok = block.header == known.header and block.signature == known.signature
        else:
            ok = self._signed_by_an_orderer(block, known)
        return ChainHead(block.number, block.header.hash(), seq, tx_last) if ok else None

    def may_sign(self, signer: bytes) -> bool:
        """Whether orderer identity ``signer`` is a current orderer in the latest membership the
        view knows (no waiting: a revocation is final, so "no" holds for every later block; a
        "yes" from a peer that is behind may still be refused by peers, as before)."""
        try:
            return self.view.current().validate(signer).role == Role.ORDERER
        except MembershipError:
            return False

    def resume_point(
        self, known: Block, data: bytes, headers: dict[str, str] | None, seq: int
    ) -> ChainHead | None:
        """The head at ``seq`` if that message is ``known`` (a block on the chain), else None."""
        try:
            block = decode_block(data)
            tx_last = int((headers or {}).get(TX_LAST_HEADER, ""))
        except (EncodingError, ValueError):
            return None
        if block.header != known.header or block.signature != known.signature:
            return None
        return ChainHead(block.number, block.header.hash(), seq, tx_last)

    @staticmethod
    def _signed_by_an_orderer(block: Block, membership: Membership) -> bool:
        try:
            signer = membership.validate(block.signer)
        except MembershipError:
            return False
        return signer.role == Role.ORDERER and verify(
            signer.public_key, block.header.to_bytes(), block.signature
        )
