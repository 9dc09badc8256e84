"""Validate a block's transactions and compute its state update.

Stages (Fabric's ``txvalidator`` then ``kvledger`` MVCC, in one place):

1. Block checks — number, previous hash, Merkle root, orderer signature by an orderer member in
   force. A block failing these is refused whole: :class:`ChainVerificationError`.
2. Per transaction, decode and check shape, membership of creator and endorsers, the contract's
   approved definition, and that writes stay in the contract's namespace.
3. All signatures of the block (creators' and endorsers') verified in one parallel batch.
4. Duplicate transaction ids, endorsement policy, then MVCC in block order: a read whose version
   changed — committed, or written by an earlier valid transaction of the same block — and a range
   whose contents changed invalidate the transaction.

Every transaction gets a :class:`ValidationCode`; only VALID ones contribute writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from careledger.contracts.governance import NAMESPACE as GOV_NAMESPACE
from careledger.contracts.governance import ContractDefinition
from careledger.crypto.keys import BatchVerifier, SignatureCheck, SignatureMemo
from careledger.crypto.merkle import merkle_root
from careledger.endorsement.policy import Policy, evaluate, parse
from careledger.errors import ChainVerificationError, EncodingError, MembershipError, PolicyError
from careledger.identity.msp import MemberCert, Membership, Role
from careledger.ledger.block import GENESIS_PREVIOUS_HASH, Block
from careledger.ledger.codes import ValidationCode as Code
from careledger.ledger.state.base import BlockUpdate, StateStore, StateWrite, TxRecord
from careledger.ledger.transaction import (
    Event,
    ProposalResponse,
    decode_envelope,
    decode_proposal,
    decode_response,
    tx_id_of,
)
from careledger.validation.genesis import genesis_membership, genesis_writes, parse_genesis_tx
from careledger.validation.membership import load_definition, load_membership

MAX_ENDORSEMENTS = 32


@dataclass(slots=True)
class ValidatedTx:
    tx_id: str
    code: Code
    response: ProposalResponse | None = None
    creator: MemberCert | None = None
    claims_id: bool = False
    """Creator signature and endorsement policy held: the id is used up, whatever MVCC says."""


@dataclass(slots=True)
class ValidatedBlock:
    block: Block
    txs: list[ValidatedTx]
    update: BlockUpdate
    events: list[tuple[str, list[Event]]] = field(default_factory=list)

    @property
    def codes(self) -> list[Code]:
        return [t.code for t in self.txs]


# Per transaction: index of the creator's check, [(endorser cert, index of its check)], policy.
_Pending = tuple[int, list[tuple[MemberCert, int]], Policy]


@dataclass(slots=True)
class PreparedBlock:
    """A block between the checks before and after its signatures are verified."""

    block: Block
    orgs: list[str]
    txs: list[ValidatedTx]
    checks: list[SignatureCheck]
    pending: list[_Pending | None]
    done: ValidatedBlock | None = None


class BlockValidator:
    """Validates blocks against one peer's committed state."""

    def __init__(
        self,
        state: StateStore,
        verifier: BatchVerifier | None = None,
        memo: SignatureMemo | None = None,
    ) -> None:
        self.state = state
        self.verifier = verifier or BatchVerifier()
        self.memo = memo
        """Signatures this peer verified at endorsement or made itself (not verified again)."""
        self._membership: Membership | None = None
        self._definitions: dict[str, tuple[ContractDefinition, Policy] | None] = {}

    def invalidate(self) -> None:
        """Forget cached membership and definitions (after a governance write commits)."""
        self._membership = None
        self._definitions.clear()

    def membership(self) -> Membership:
        if self._membership is None:
            self._membership = load_membership(self.state)
        return self._membership

    def definition(self, name: str) -> tuple[ContractDefinition, Policy] | None:
        if name not in self._definitions:
            d = load_definition(self.state, name)
            try:
                self._definitions[name] = None if d is None else (d, parse(d.policy))
            except PolicyError:
                self._definitions[name] = None
        return self._definitions[name]

    # -- block level ------------------------------------------------------------------------
    def check_block(self, block: Block, previous_hash: bytes | None) -> None:
        """Structure and orderer signature; raises ChainVerificationError naming the check."""
        n = block.number
        expected_prev = GENESIS_PREVIOUS_HASH if n == 0 else previous_hash
        if n != self.state.height():
            raise ChainVerificationError(n, "block number", f"expected {self.state.height()}")
        if block.header.previous_hash != expected_prev:
            raise ChainVerificationError(n, "previous hash", "does not match the block before")
        if merkle_root(block.transactions) != block.header.data_hash:
            raise ChainVerificationError(n, "data hash (Merkle root)", "transactions altered")
        if n == 0:
            try:
                membership = genesis_membership(parse_genesis_tx(block.transactions[0]))
            except (EncodingError, IndexError) as exc:
                raise ChainVerificationError(0, "genesis configuration", str(exc)) from exc
        else:
            membership = self.membership()
        try:
            signer = membership.validate(block.signer)
        except MembershipError as exc:
            raise ChainVerificationError(n, "orderer identity", str(exc)) from exc
        if signer.role != Role.ORDERER:
            raise ChainVerificationError(n, "orderer identity", f"{signer.name} is not an orderer")
        if not self.verifier.verify(
            [SignatureCheck(signer.public_key, block.header.to_bytes(), block.signature)]
        )[0]:
            raise ChainVerificationError(n, "orderer signature")

    # -- transactions -----------------------------------------------------------------------
    def validate(self, block: Block, previous_hash: bytes | None) -> ValidatedBlock:
        """Validate ``block`` against the current state (signatures verified in a batch)."""
        prepared = self.prepare(block, previous_hash)
        if prepared.done is not None:
            return prepared.done
        return self.finish(prepared, self.verify(prepared.checks))

    def verify(self, checks: list[SignatureCheck]) -> list[bool]:
        """Verify a block's signatures in one batch, skipping those in :attr:`memo`."""
        if self.memo is None:
            return self.verifier.verify(checks)
        return self.memo.verify(self.verifier, checks)

    def prepare(self, block: Block, previous_hash: bytes | None) -> PreparedBlock:
        """Block checks and per-transaction checks up to the signatures to verify."""
        self.check_block(block, previous_hash)
        if block.number == 0:
            return PreparedBlock(block, [], [], [], [], self._genesis(block))
        membership = self.membership()
        txs: list[ValidatedTx] = []
        checks: list[SignatureCheck] = []
        pending: list[_Pending | None] = []
        for raw in block.transactions:
            try:
                env = decode_envelope(raw)
                proposal = decode_proposal(env.proposal)
                response = decode_response(env.response)
            except EncodingError:
                txs.append(ValidatedTx("", Code.MALFORMED_PAYLOAD))
                pending.append(None)
                continue
            tx = ValidatedTx(tx_id_of(env.proposal), Code.NOT_VALIDATED, response)
            txs.append(tx)
            pending.append(None)
            if response.tx_id != tx.tx_id:
                tx.code = Code.RESPONSE_MISMATCH
                continue
            try:
                tx.creator = membership.validate(proposal.creator)
            except MembershipError:
                tx.code = Code.CREATOR_NOT_MEMBER
                continue
            found = self.definition(proposal.contract)
            if found is None:
                tx.code = Code.UNKNOWN_CONTRACT
                continue
            if any(rw.writes and rw.namespace != proposal.contract for rw in response.rwsets):
                tx.code = Code.NAMESPACE_VIOLATION
                continue
            if len(env.endorsements) > MAX_ENDORSEMENTS:
                tx.code = Code.ENDORSEMENT_POLICY_FAILURE
                continue
            checks.append(SignatureCheck(tx.creator.public_key, env.proposal, env.signature))
            creator_check = len(checks) - 1
            endorsers: list[tuple[MemberCert, int]] = []
            seen: set[bytes] = set()
            for e in env.endorsements:
                if e.endorser in seen:
                    continue
                seen.add(e.endorser)
                try:
                    cert = membership.validate(e.endorser)
                except MembershipError:
                    continue
                checks.append(SignatureCheck(cert.public_key, env.response, e.signature))
                endorsers.append((cert, len(checks) - 1))
            pending[-1] = (creator_check, endorsers, found[1])
        return PreparedBlock(block, membership.org_ids(), txs, checks, pending)

    def finish(self, prepared: PreparedBlock, results: list[bool]) -> ValidatedBlock:
        """Signature results, duplicates, endorsement policy, then MVCC in block order."""
        block, orgs, txs = prepared.block, prepared.orgs, prepared.txs
        seen_ids: set[str] = set()
        for tx, plan in zip(txs, prepared.pending, strict=True):
            if plan is None:
                continue
            creator_check, endorsers, policy = plan
            if not results[creator_check]:
                tx.code = Code.BAD_CREATOR_SIGNATURE
                continue
            if tx.tx_id in seen_ids or self.state.tx(tx.tx_id) is not None:
                tx.code = Code.DUPLICATE_TXID
                continue
            signers = [(c.org, str(c.role)) for c, i in endorsers if results[i]]
            if not evaluate(policy, signers, orgs):
                tx.code = Code.ENDORSEMENT_POLICY_FAILURE
                continue
            seen_ids.add(tx.tx_id)
            tx.claims_id = True
            tx.code = Code.VALID
        return self._mvcc(block, txs)

    def _mvcc(self, block: Block, txs: list[ValidatedTx]) -> ValidatedBlock:
        update = BlockUpdate(block.number)
        written: set[tuple[str, str]] = set()
        events: list[tuple[str, list[Event]]] = []
        state = self.state
        for index, tx in enumerate(txs):
            if tx.code is Code.VALID:
                assert tx.response is not None
                tx.code = _check_reads(state, tx.response, written)
            if tx.code is Code.VALID:
                assert tx.response is not None
                for rw in tx.response.rwsets:
                    for w in rw.writes:
                        written.add((rw.namespace, w.key))
                        update.writes.append(
                            StateWrite(
                                rw.namespace, w.key, w.value, (block.number, index), tx.tx_id
                            )
                        )
                if tx.response.events:
                    events.append((tx.tx_id, tx.response.events))
            # Only a transaction properly signed and endorsed uses up its id: a copy of someone's
            # signed proposal wrapped in a junk response or endorsements must not block the
            # genuine transaction (a weakness Fabric has).
            if tx.claims_id:
                update.txs.append(TxRecord(tx.tx_id, block.number, index, int(tx.code)))
        return ValidatedBlock(block, txs, update, events)

    def _genesis(self, block: Block) -> ValidatedBlock:
        config = parse_genesis_tx(block.transactions[0])
        tx_id = tx_id_of(block.transactions[0])
        update = BlockUpdate(0, genesis_writes(config, tx_id), [TxRecord(tx_id, 0, 0, 0)])
        return ValidatedBlock(block, [ValidatedTx(tx_id, Code.VALID, claims_id=True)], update)

    def touches_governance(self, validated: ValidatedBlock) -> bool:
        return any(w.namespace == GOV_NAMESPACE for w in validated.update.writes)


def _check_reads(
    state: StateStore, response: ProposalResponse, written: set[tuple[str, str]]
) -> Code:
    for rw in response.rwsets:
        ns = rw.namespace
        for r in rw.reads:
            if (ns, r.key) in written:
                return Code.MVCC_READ_CONFLICT
            vv = state.get(ns, r.key)
            if (None if vv is None else vv.version) != r.version:
                return Code.MVCC_READ_CONFLICT
        for rr in rw.ranges:
            if any(n == ns and k >= rr.start and (not rr.end or k < rr.end) for n, k in written):
                return Code.PHANTOM_READ_CONFLICT
            now = [(k, vv.version) for k, vv in state.range(ns, rr.start, rr.end)]
            if now != [(r.key, r.version) for r in rr.reads]:
                return Code.PHANTOM_READ_CONFLICT
    return Code.VALID
