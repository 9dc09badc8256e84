"""What a node does for an API request: the layer between the routes and the peer/gateway.

Routes parse and delegate here; this module turns a signed proposal into an endorsement, a
committed transaction or a query result, reads blocks and transactions, and streams commit
events. Everything runs on the node's event loop, like the peer itself, so the peer's stores see
one thread.

Not for authentication of read requests (:mod:`careledger.api.auth`) nor for HTTP concerns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from careledger.api.codec import b64e, to_json
from careledger.api.errors import NotFound
from careledger.api.models import (
    BlockOut,
    CommitEventOut,
    ContractEvent,
    EndorsementOut,
    EndorseOut,
    EvaluateOut,
    HealthOut,
    StateOut,
    SubmitOut,
    TxCode,
    TxOut,
)
from careledger.errors import EncodingError, OrderingError
from careledger.identity.msp import MemberCert, Membership
from careledger.ledger.block import Block
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import decode_envelope, decode_response, tx_id_of
from careledger.node.gateway import Gateway
from careledger.node.peer import CommitEvent, Peer

#: How often an idle event stream sends a keep-alive (seconds).
KEEPALIVE_SECONDS = 15.0


class NodeService:
    def __init__(self, peer: Peer, gateway: Gateway) -> None:
        self.peer = peer
        self.gateway = gateway
        self._wakeups: set[asyncio.Event] = set()
        self._closing = False
        self._unsubscribe = peer.subscribe(self._on_commit)

    @property
    def org(self) -> str:
        return self.peer.org

    def membership(self) -> Membership:
        return self.peer.validator.membership()

    # -- signed proposals --------------------------------------------------------------------
    def endorse(self, proposal: bytes, signature: bytes) -> EndorseOut:
        response, endorsement = self.peer.endorse(proposal, signature)
        return EndorseOut(
            response=b64e(response),
            endorsement=EndorsementOut(
                endorser=b64e(endorsement.endorser), signature=b64e(endorsement.signature)
            ),
        )

    async def submit(self, proposal: bytes, signature: bytes) -> SubmitOut:
        """Endorse across organisations, order, wait for the commit here.

        No retry: the client signed this exact proposal, so only the client can retry (with a
        new nonce) after an MVCC conflict, reported as TransactionInvalid (409).
        """
        decoded, _creator = self.peer.check_proposal(proposal, signature)
        tx_id = tx_id_of(proposal)
        envelope = await self.gateway.endorse(decoded.contract, proposal, signature)
        try:
            committed = await self.gateway.submit_envelope(tx_id, envelope)
        except TimeoutError as exc:
            raise OrderingError(
                f"transaction {tx_id} was not committed within {self.gateway.commit_timeout} s"
            ) from exc
        record = self.peer.state.tx(tx_id)
        return SubmitOut(
            tx_id=tx_id,
            code=committed.code.name,
            block=record.block if record is not None else -1,
            result=to_json(committed.result),
        )

    def evaluate(self, proposal: bytes, signature: bytes) -> EvaluateOut:
        decoded, creator = self.peer.check_proposal(proposal, signature)
        result = self.peer.query(decoded.contract, decoded.function, decoded.args, creator)
        return EvaluateOut(result=to_json(result))

    # -- reads --------------------------------------------------------------------------------
    def health(self) -> HealthOut:
        return HealthOut(status="ok", org=self.org, height=self.peer.height())

    def state(self) -> StateOut:
        return StateOut(
            org=self.org,
            height=self.peer.height(),
            block_height=self.peer.blocks.height(),
            state_root=self.peer.state.state_root().hex(),
            last_block_hash=(self.peer.blocks.last_hash() or b"").hex(),
        )

    def _block(self, number: int) -> Block:
        if not 0 <= number < self.peer.blocks.height():
            raise NotFound(f"no block {number} (height {self.peer.blocks.height()})")
        return self.peer.blocks.get(number)

    def block(self, number: int) -> BlockOut:
        raw = self._block(number)
        return BlockOut(
            number=raw.number,
            hash=raw.header.hash().hex(),
            previous_hash=raw.header.previous_hash.hex(),
            data_hash=raw.header.data_hash.hex(),
            timestamp=raw.header.timestamp,
            transactions=_commit_event(raw).transactions,
            raw=b64e(raw.to_bytes()),
        )

    def transaction(self, tx_id: str) -> TxOut:
        record = self.peer.state.tx(tx_id)
        if record is None:
            raise NotFound(f"no committed transaction {tx_id}")
        block = self.peer.blocks.get(record.block)
        return TxOut(
            tx_id=tx_id,
            block=record.block,
            index=record.index,
            code=ValidationCode(record.code).name,
            envelope=b64e(block.transactions[record.index]),
        )

    # -- commit events ------------------------------------------------------------------------
    def _on_commit(self, _event: CommitEvent) -> None:
        for wakeup in self._wakeups:
            wakeup.set()

    async def commit_events(
        self, start: int, reader: MemberCert | None = None
    ) -> AsyncGenerator[CommitEventOut | None, None]:
        """Commit events of blocks ``start``, ``start + 1``, … as they commit; never skips one.

        Read from the block store, so a slow or late listener sees the same events as a live
        one. Yields None after :data:`KEEPALIVE_SECONDS` without a block; ends when the node
        shuts down, or once ``reader`` is no longer a current member (revoked, or its
        organisation removed: the stream outlives the request that authenticated it).
        """
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        try:
            n = start
            while not self._closing:
                if reader is not None and not self.membership().admits(reader):
                    return
                if n < self.peer.blocks.height():
                    yield _commit_event(self.peer.blocks.get(n))
                    n += 1
                    continue
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield None
        finally:
            self._wakeups.discard(wakeup)

    def close(self) -> None:
        """End every event stream and stop listening to the peer."""
        self._closing = True
        self._unsubscribe()
        for wakeup in self._wakeups:
            wakeup.set()


def _commit_event(block: Block) -> CommitEventOut:
    txs: list[TxCode] = []
    events: list[ContractEvent] = []
    codes = block.codes or [ValidationCode.NOT_VALIDATED] * len(block.transactions)
    for raw, code in zip(block.transactions, codes, strict=True):
        try:
            envelope = decode_envelope(raw)
        except EncodingError:  # genesis, or a malformed envelope: no transaction id
            txs.append(TxCode(tx_id="", code=code.name))
            continue
        tx_id = tx_id_of(envelope.proposal)
        txs.append(TxCode(tx_id=tx_id, code=code.name))
        if code is ValidationCode.VALID:
            for event in decode_response(envelope.response).events:
                events.append(
                    ContractEvent(tx_id=tx_id, name=event.name, payload=to_json(event.payload))
                )
    return CommitEventOut(block=block.number, transactions=txs, events=events)
