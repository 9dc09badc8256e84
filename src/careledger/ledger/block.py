"""Blocks: a hash-chained, orderer-signed batch of transaction envelopes.

The header (number, previous block hash, Merkle root of the transactions, orderer timestamp) is
what the orderer signs and what the next block's ``previous_hash`` commits to. The validation
codes are metadata each peer adds after validating; they are not covered by the orderer's
signature (as in Fabric's TRANSACTIONS_FILTER) but ``careledger verify`` recomputes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from careledger.crypto import encoding
from careledger.crypto.merkle import merkle_root
from careledger.errors import EncodingError
from careledger.ledger.codes import ValidationCode

GENESIS_PREVIOUS_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    previous_hash: bytes
    data_hash: bytes
    timestamp: int

    def to_bytes(self) -> bytes:
        return encoding.encode_trusted(
            {
                "number": self.number,
                "previous_hash": self.previous_hash,
                "data_hash": self.data_hash,
                "timestamp": self.timestamp,
            }
        )

    def hash(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()


@dataclass(slots=True)
class Block:
    header: BlockHeader
    transactions: list[bytes]
    signer: bytes = b""
    signature: bytes = b""
    codes: list[ValidationCode] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.header.number

    def to_bytes(self) -> bytes:
        return encoding.encode_trusted(
            {
                "header": {
                    "number": self.header.number,
                    "previous_hash": self.header.previous_hash,
                    "data_hash": self.header.data_hash,
                    "timestamp": self.header.timestamp,
                },
                "transactions": self.transactions,
                "signer": self.signer,
                "signature": self.signature,
                "codes": bytes(int(c) for c in self.codes),
            }
        )


def make_block(
    number: int, previous_hash: bytes, transactions: list[bytes], timestamp: int
) -> Block:
    """An unsigned block over ``transactions``."""
    header = BlockHeader(number, previous_hash, merkle_root(transactions), timestamp)
    return Block(header, list(transactions))


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise EncodingError(f"block field {name!r} is missing or of the wrong type")
    return value


def decode_block(raw: bytes) -> Block:
    """Parse stored or transmitted block bytes; raises EncodingError on any malformation."""
    obj = encoding.decode(raw, canonical=False)
    if not isinstance(obj, dict):
        raise EncodingError("block is not a map")
    h = _field(obj, "header", dict)
    header = BlockHeader(
        number=_field(h, "number", int),
        previous_hash=_field(h, "previous_hash", bytes),
        data_hash=_field(h, "data_hash", bytes),
        timestamp=_field(h, "timestamp", int),
    )
    txs = _field(obj, "transactions", list)
    if not all(isinstance(t, bytes) for t in txs):
        raise EncodingError("block transactions must be byte strings")
    raw_codes = _field(obj, "codes", bytes)
    try:
        codes = [ValidationCode(c) for c in raw_codes]
    except ValueError as exc:
        raise EncodingError(f"unknown validation code in block {header.number}") from exc
    return Block(
        header=header,
        transactions=txs,
        signer=_field(obj, "signer", bytes),
        signature=_field(obj, "signature", bytes),
        codes=codes,
    )
