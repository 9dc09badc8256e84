"""Transactions: proposal, simulation results (read/write sets), endorsements, envelope.

Flow (execute → order → validate):

1. A client builds a :class:`Proposal` and signs its canonical bytes. The transaction id is the
   SHA-256 of those bytes, so it is derived from content: creator, nonce and timestamp make it
   unique, and replaying the same signed proposal yields the same id (rejected as a duplicate).
2. Each endorser simulates the proposal and returns a :class:`ProposalResponse` (the read set with
   versions, the write set, the result, events). The response bytes must be identical across
   endorsers; each endorser signs them.
3. The client wraps proposal, signature, response and endorsements in an :class:`Envelope`, whose
   canonical bytes are what ordering puts in a block.

Decoding here checks shape only; signatures, membership and policy are checked by
:mod:`careledger.validation`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from careledger.crypto import encoding
from careledger.errors import EncodingError

#: Largest encoded proposal accepted by endorsers and gateways.
MAX_PROPOSAL_BYTES = 1024 * 1024
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024

Version = tuple[int, int]
"""A state value's version: (block number, transaction index) of the write that made it."""


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=False):
    pass


class Proposal(_Wire, frozen=True):
    contract: str
    function: str
    args: list[Any]
    creator: bytes
    nonce: bytes
    timestamp: int

    def to_bytes(self) -> bytes:
        return encoding.encode(
            {
                "contract": self.contract,
                "function": self.function,
                "args": self.args,
                "creator": self.creator,
                "nonce": self.nonce,
                "timestamp": self.timestamp,
            }
        )


class KVRead(_Wire, frozen=True):
    key: str
    version: Version | None


class KVWrite(_Wire, frozen=True):
    key: str
    value: bytes | None


class RangeRead(_Wire, frozen=True):
    start: str
    end: str
    reads: list[KVRead]


class NsRWSet(_Wire, frozen=True):
    namespace: str
    reads: list[KVRead]
    ranges: list[RangeRead]
    writes: list[KVWrite]


class Event(_Wire, frozen=True):
    name: str
    payload: Any


class ProposalResponse(_Wire, frozen=True):
    tx_id: str
    result: Any
    rwsets: list[NsRWSet]
    events: list[Event]

    def to_bytes(self) -> bytes:
        return encoding.encode(msgspec.to_builtins(self, builtin_types=(bytes,)))


class Endorsement(_Wire, frozen=True):
    endorser: bytes
    signature: bytes


class Envelope(_Wire, frozen=True):
    proposal: bytes
    signature: bytes
    response: bytes
    endorsements: list[Endorsement]

    def to_bytes(self) -> bytes:
        return encoding.encode_trusted(
            {
                "proposal": self.proposal,
                "signature": self.signature,
                "response": self.response,
                "endorsements": [
                    {"endorser": e.endorser, "signature": e.signature} for e in self.endorsements
                ],
            }
        )


def tx_id_of(proposal_bytes: bytes) -> str:
    """The transaction id: hex SHA-256 of the canonical proposal bytes."""
    return hashlib.sha256(proposal_bytes).hexdigest()


def _convert(raw: bytes, kind: type[_Wire], what: str, limit: int, canonical: bool) -> Any:
    if len(raw) > limit:
        raise EncodingError(f"{what} of {len(raw)} bytes exceeds the limit of {limit}")
    try:
        return msgspec.convert(encoding.decode(raw, canonical=canonical), kind, strict=True)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"{what}: {exc}") from exc


def decode_proposal(raw: bytes) -> Proposal:
    # Canonical form is enforced here: the transaction id is the hash of these bytes, so a second
    # encoding of the same proposal must not yield a second id (replay protection).
    proposal: Proposal = _convert(raw, Proposal, "proposal", MAX_PROPOSAL_BYTES, True)
    return proposal


def decode_response(raw: bytes) -> ProposalResponse:
    # Canonical form is enforced: honest endorsers always encode canonically, and the result and
    # event payloads are shown to every client as JSON. Without it a response could carry CBOR
    # tags (dates, decimals, regular expressions) or shared references (a list that contains
    # itself), which no JSON view can render: once committed, every node's events stream failed.
    response: ProposalResponse = _convert(
        raw, ProposalResponse, "response", MAX_ENVELOPE_BYTES, True
    )
    return response


def decode_envelope(raw: bytes) -> Envelope:
    # The block's Merkle root covers the raw bytes; the parts inside are checked on their own.
    envelope: Envelope = _convert(raw, Envelope, "envelope", MAX_ENVELOPE_BYTES, False)
    return envelope
