"""A peer: endorses proposals, validates and commits blocks, answers queries, emits events.

Commit order for each block: validate → append the block (with its validation codes) to the block
store and fsync → commit the state update (one atomic transaction that also advances the state
height). A crash between the two leaves the block store one or more blocks ahead; on start the
peer re-validates and commits those blocks, so state height always catches up to block height.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from careledger.contracts.base import to_plain
from careledger.contracts.registry import ContractRegistry
from careledger.crypto.keys import BatchVerifier, SignatureMemo, verify
from careledger.endorsement.simulator import Simulation
from careledger.errors import (
    ChainVerificationError,
    CryptoError,
    EncodingError,
    EndorserUnavailable,
    InvalidInput,
    MembershipError,
    StorageError,
    UnknownContract,
)
from careledger.identity.msp import LocalIdentity, MemberCert, Membership
from careledger.ledger.block import Block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode
from careledger.ledger.state.base import StateStore
from careledger.ledger.transaction import (
    Endorsement,
    Proposal,
    ProposalResponse,
    decode_proposal,
    tx_id_of,
)
from careledger.ordering.base import OrderingService
from careledger.validation.validator import BlockValidator, ValidatedBlock

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommitEvent:
    """What a block commit tells listeners."""

    block: int
    tx_codes: list[tuple[str, ValidationCode]]
    events: list[tuple[str, str, Any]]  # (tx_id, event name, payload)


def commit_event(validated: ValidatedBlock) -> CommitEvent:
    return CommitEvent(
        validated.block.number,
        [(t.tx_id, t.code) for t in validated.txs],
        [(tx_id, e.name, e.payload) for tx_id, evs in validated.events for e in evs],
    )


class Peer:
    def __init__(
        self,
        identity: LocalIdentity,
        state: StateStore,
        blocks: BlockStore,
        registry: ContractRegistry,
        verifier: BatchVerifier | None = None,
        *,
        memo: SignatureMemo | None = None,
        recover: bool = True,
    ) -> None:
        """``recover=False`` is for a view of a peer whose stores another process writes (an
        embedded consortium's peer worker, :mod:`careledger.node.workers`)."""
        self.identity = identity
        self.state = state
        self.blocks = blocks
        self.registry = registry
        self.memo = memo or SignatureMemo()
        self.validator = BlockValidator(state, verifier, self.memo)
        self._waiters: dict[str, list[asyncio.Future[ValidationCode]]] = {}
        self._listeners: list[Callable[[CommitEvent], None]] = []
        self.rejected_blocks = 0
        self.recovered_blocks = self._recover() if recover else 0

    @property
    def org(self) -> str:
        return self.identity.org

    def height(self) -> int:
        return self.state.height()

    def committed_block(self, number: int) -> Block:
        """Committed block ``number`` (from the block file)."""
        return self.blocks.get(number)

    def membership(self) -> Membership:
        """The membership in force after the last committed block."""
        return self.validator.membership()

    # -- recovery ---------------------------------------------------------------------------
    def _recover(self) -> int:
        """Bring state up to the block store after a crash; returns how many blocks replayed."""
        bh, sh = self.blocks.height(), self.state.height()
        if sh > bh:
            raise StorageError(f"state height {sh} is ahead of block height {bh}: block store lost")
        for n in range(sh, bh):
            block = self.blocks.get(n)
            stored = list(block.codes)
            prev = self.blocks.get(n - 1).header.hash() if n else None
            validated = self.validator.validate(block, prev)
            if validated.codes != stored:
                raise StorageError(f"block {n}: replayed validation codes differ from stored")
            self.state.commit(validated.update)
            if self.validator.touches_governance(validated):
                self.validator.invalidate()
        return bh - sh

    # -- endorsement ------------------------------------------------------------------------
    def check_proposal(
        self, proposal_bytes: bytes, signature: bytes
    ) -> tuple[Proposal, MemberCert]:
        """Decode, check the creator's membership and signature; raises on any failure."""
        try:
            proposal = decode_proposal(proposal_bytes)
        except EncodingError as exc:
            raise InvalidInput(f"malformed proposal: {exc}") from exc
        creator = self.validator.membership().validate(proposal.creator)
        # A node's submit checks the proposal, then its own endorser does: verify once.
        known = self.memo.seen(creator.public_key, proposal_bytes, signature)
        if not known and not verify(creator.public_key, proposal_bytes, signature):
            raise CryptoError("the proposal signature does not verify with the creator's key")
        self.memo.add(creator.public_key, proposal_bytes, signature)
        return proposal, creator

    def _contract(self, name: str) -> Any:
        found = self.validator.definition(name)
        if found is None:
            raise UnknownContract(f"contract {name!r} has no definition approved by governance")
        return self.registry.get(name, found[0].version)

    def endorse(self, proposal_bytes: bytes, signature: bytes) -> tuple[bytes, Endorsement]:
        """Simulate a signed proposal; return the response bytes and this peer's endorsement.

        A peer whose own identity has been revoked refuses (:class:`EndorserUnavailable`): its
        endorsement would fail validation, so the gateway should ask another organisation.
        """
        try:
            self.validator.membership().validate(self.identity.identity)
        except MembershipError as exc:
            raise EndorserUnavailable(f"{self.identity.label} cannot endorse: {exc}") from exc
        proposal, creator = self.check_proposal(proposal_bytes, signature)
        tx_id = tx_id_of(proposal_bytes)
        if self.state.tx(tx_id) is not None:
            raise InvalidInput(f"transaction {tx_id} was already committed")
        contract = self._contract(proposal.contract)
        sim = Simulation(
            self.state, contract, tx_id=tx_id, timestamp=proposal.timestamp, creator=creator
        )
        result = contract.call(sim, proposal.function, proposal.args, "invoke")
        try:
            response = ProposalResponse(tx_id, to_plain(result), sim.rwsets(), sim.events())
            response_bytes = response.to_bytes()
        except EncodingError as exc:
            raise InvalidInput(f"contract result cannot be encoded: {exc}") from exc
        endorsement = Endorsement(self.identity.identity, self.identity.sign(response_bytes))
        self.memo.add(self.identity.cert.public_key, response_bytes, endorsement.signature)
        return response_bytes, endorsement

    def query(self, contract_name: str, function: str, args: list[Any], creator: MemberCert) -> Any:
        """Run a query function against committed state (never ordered)."""
        contract = self._contract(contract_name)
        sim = Simulation(
            self.state, contract, tx_id="", timestamp=0, creator=creator, read_only=True
        )
        return to_plain(contract.call(sim, function, args, "query"))

    # -- commit -----------------------------------------------------------------------------
    def commit_block(self, block: Block) -> ValidatedBlock:
        """Validate and commit one block; raises ChainVerificationError for a bad block."""
        return self._commit(self.validator.validate(block, self.blocks.last_hash()))

    def _commit(self, validated: ValidatedBlock) -> ValidatedBlock:
        block = validated.block
        self.blocks.append(dataclasses.replace(block, codes=validated.codes))
        self.state.commit(validated.update)
        if self.validator.touches_governance(validated):
            self.validator.invalidate()
        self._notify(validated)
        return validated

    def _notify(self, validated: ValidatedBlock) -> None:
        self.notify_commit(commit_event(validated))

    def notify_commit(self, event: CommitEvent) -> None:
        """Resolve the commit waiters of ``event``'s transactions and tell the listeners."""
        waiters = self._waiters
        if waiters:
            for tx_id, code in event.tx_codes:
                for fut in waiters.pop(tx_id, ()):
                    if not fut.done():
                        fut.set_result(code)
        for listener in list(self._listeners):
            listener(event)

    def wait_for(self, tx_id: str) -> asyncio.Future[ValidationCode]:
        """A future resolved with the transaction's code when its block commits here."""
        fut: asyncio.Future[ValidationCode] = asyncio.get_running_loop().create_future()
        record = self.state.tx(tx_id)
        if record is not None:
            fut.set_result(ValidationCode(record.code))
        else:
            self._waiters.setdefault(tx_id, []).append(fut)
        return fut

    def cancel_wait(self, tx_id: str, fut: asyncio.Future[ValidationCode]) -> None:
        waiters = self._waiters.get(tx_id)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[tx_id]

    def subscribe(self, listener: Callable[[CommitEvent], None]) -> Callable[[], None]:
        """Call ``listener`` after every commit; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def run(self, ordering: OrderingService) -> None:
        """Commit every block ordering delivers, from this peer's height on.

        A block that fails the block checks (forged, replayed, altered in transit) is refused
        and counted in :attr:`rejected_blocks`; the peer keeps waiting for the real one.
        """
        async for block in ordering.deliver(self.blocks.height()):
            try:
                # Synchronous on purpose: measured, letting endorsements interleave with
                # validation made blocks smaller and endorsers skew more, for less throughput.
                self.commit_block(block)
            except ChainVerificationError as exc:
                self.rejected_blocks += 1
                _log.warning("%s refused a delivered block: %s", self.identity.cert.name, exc)

    def close(self) -> None:
        self.blocks.close()
        self.state.close()
