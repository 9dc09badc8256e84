"""The API's wire types: request and response bodies, as pydantic models so that the OpenAPI
document at ``/openapi.json`` describes every route exactly.

Hashes and transaction ids are lowercase hex; signed byte strings (proposals, responses, blocks,
identities, signatures) are unpadded base64url of their canonical CBOR; contract results and
event payloads are JSON with byte strings as base64url text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from careledger.ledger.transaction import MAX_PROPOSAL_BYTES

_PROPOSAL_CHARS = (MAX_PROPOSAL_BYTES * 4 + 2) // 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignedProposal(_Model):
    """A proposal and its creator's signature (the creator's certificate is in the proposal)."""

    proposal: str = Field(
        max_length=_PROPOSAL_CHARS, description="base64url canonical CBOR Proposal"
    )
    signature: str = Field(max_length=128, description="base64url Ed25519 signature by creator")


class EndorsementOut(_Model):
    endorser: str = Field(description="base64url identity of the endorsing peer")
    signature: str = Field(description="base64url signature of the response bytes")


class EndorseOut(_Model):
    response: str = Field(description="base64url canonical CBOR ProposalResponse")
    endorsement: EndorsementOut


class SubmitOut(_Model):
    tx_id: str
    code: str = Field(description="validation code, always VALID here (others are 409)")
    block: int
    result: Any = None


class SubmitBatchIn(_Model):
    """Signed proposals to submit together (``POST /v1/submit-batch``), each by its creator."""

    items: list[SignedProposal] = Field(
        max_length=1024,
        description="at most 256; up to 1,024 each refused (InvalidInput), more: 400",
    )


class SubmitItemOut(_Model):
    """One entry's outcome: committed (``code`` VALID, ``block``, ``result``) or refused
    (``error`` and ``type`` as an error response's body; ``code`` for TransactionInvalid)."""

    tx_id: str = Field("", description="empty when the entry holds no readable proposal")
    code: str | None = Field(None, description="VALID, or the code a TransactionInvalid names")
    block: int = -1
    result: Any = None
    error: str | None = None
    type: str | None = None


class SubmitBatchOut(_Model):
    items: list[SubmitItemOut] = Field(description="one per entry, in the order sent")


class EvaluateOut(_Model):
    result: Any = None


class TxCode(_Model):
    tx_id: str = Field(description="empty for a transaction too malformed to have an id")
    code: str


class BlockOut(_Model):
    number: int
    hash: str
    previous_hash: str
    data_hash: str
    timestamp: int
    transactions: list[TxCode]
    raw: str = Field(description="base64url block bytes, as stored (verifiable offline)")


class TxOut(_Model):
    tx_id: str
    block: int
    index: int
    code: str
    envelope: str = Field(description="base64url envelope bytes as ordered")


class StateOut(_Model):
    org: str
    height: int = Field(description="blocks committed to world state")
    block_height: int = Field(description="blocks in the block store")
    state_root: str
    last_block_hash: str


class HealthOut(_Model):
    status: str
    org: str
    height: int


class ContractEvent(_Model):
    tx_id: str
    name: str
    payload: Any = None


class CommitEventOut(_Model):
    block: int
    transactions: list[TxCode]
    events: list[ContractEvent]


class ErrorOut(_Model):
    error: str
    type: str
    code: str | None = None
    tx_id: str | None = None
