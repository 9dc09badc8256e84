"""Re-verify a whole chain from its block file: ``careledger verify``.

Everything is recomputed offline from the block file and the consortium's genesis block: the hash
chain, each block's Merkle root, each orderer signature, and — by replaying every block into a
fresh in-memory state — every creator and endorser signature against the membership in force at
that block, every endorsement policy and every MVCC check. The recomputed validation codes must
equal the stored ones, and the final state root must equal the peer's. The first failure raises
:class:`ChainVerificationError` naming the block and the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from careledger.crypto.keys import BatchVerifier
from careledger.errors import ChainVerificationError, EncodingError, StorageError
from careledger.ledger.block import decode_block
from careledger.ledger.blockstore import read_block_file
from careledger.ledger.state.memory import MemoryStateStore
from careledger.validation.validator import BlockValidator


@dataclass(frozen=True, slots=True)
class ChainReport:
    blocks: int
    transactions: int
    valid: int
    state_root: bytes


def verify_chain(
    block_file: str | Path,
    *,
    genesis_hash: bytes | None = None,
    expected_state_root: bytes | None = None,
) -> ChainReport:
    state = MemoryStateStore()
    verifier = BatchVerifier()
    validator = BlockValidator(state, verifier)
    prev: bytes | None = None
    txs = valid = 0
    records: list[tuple[int, bytes, bool]] = []
    try:
        for record in read_block_file(block_file, check_crc=False):
            records.append(record)
    except (StorageError, OSError) as exc:
        raise ChainVerificationError(len(records), "block file", str(exc)) from exc
    try:
        for n, (_offset, payload, crc_ok) in enumerate(records):
            try:
                block = decode_block(payload)
            except EncodingError as exc:
                raise ChainVerificationError(n, "block encoding", str(exc)) from exc
            if block.number != n:
                raise ChainVerificationError(n, "block number", f"record holds {block.number}")
            if n == 0 and genesis_hash is not None and block.header.hash() != genesis_hash:
                raise ChainVerificationError(0, "genesis", "not this consortium's genesis block")
            validated = validator.validate(block, prev)
            if validated.codes != block.codes:
                pairs = zip(block.codes, validated.codes, strict=False)
                for i, (stored, redone) in enumerate(pairs):
                    if stored != redone:
                        detail = f"tx {i}: stored {stored.name}, recomputed {redone.name}"
                        raise ChainVerificationError(n, "validation codes", detail)
                detail = "number of codes differs from number of transactions"
                raise ChainVerificationError(n, "validation codes", detail)
            if not crc_ok:
                raise ChainVerificationError(n, "record checksum")
            state.commit(validated.update)
            if validator.touches_governance(validated):
                validator.invalidate()
            prev = block.header.hash()
            txs += len(block.transactions)
            valid += sum(1 for c in validated.codes if c.valid)
    finally:
        verifier.close()
    if expected_state_root is not None and state.state_root() != expected_state_root:
        raise ChainVerificationError(
            state.height() - 1, "state root", "the peer's state differs from the replayed chain"
        )
    return ChainReport(state.height(), txs, valid, state.state_root())
