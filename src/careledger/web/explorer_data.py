"""What the explorer shows, read from the node's own peer: blocks a page at a time, one
transaction's read/write keys and endorsers, governance motions, and other peers' state roots.

Nothing here walks the chain: pages read at most :data:`PAGE` blocks (newest first) by number
from the block store's index, transactions by id from the state store's index. Values in the
world state are never shown — only keys, versions and writers — so the explorer shows what is on
chain without decoding anyone's data.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from careledger.api.auth import sign_request
from careledger.contracts.governance import ContractDefinition, GovProposal
from careledger.contracts.values import decode_value
from careledger.errors import CareLedgerError, EncodingError
from careledger.identity.msp import parse_cert
from careledger.ledger.block import Block
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import (
    decode_envelope,
    decode_proposal,
    decode_response,
    tx_id_of,
)
from careledger.web.context import UiContext

PAGE = 20
RECENT = 60
TX_ID = re.compile(r"^[0-9a-f]{64}$")
SYSTEM_NAMESPACES = ("_gov",)


@dataclass(frozen=True)
class TxLine:
    index: int
    tx_id: str
    code: str
    contract: str
    function: str
    creator: str


@dataclass(frozen=True)
class BlockSummary:
    number: int
    hash: str
    previous_hash: str
    data_hash: str
    timestamp: int
    tx_count: int
    signer: str
    lines: list[TxLine] = field(default_factory=list)


@dataclass(frozen=True)
class TxDetail:
    tx_id: str
    block: int
    index: int
    code: str
    contract: str
    function: str
    creator: str
    timestamp: int
    args: int
    reads: list[tuple[str, str, str]]  # namespace, key, version
    writes: list[tuple[str, str, str]]  # namespace, key, "write" | "delete"
    ranges: list[tuple[str, str, str]]
    endorsers: list[str]
    events: list[str]


@dataclass(frozen=True)
class PeerState:
    org: str
    url: str
    height: int | None
    state_root: str
    error: str = ""


def _member(identity: bytes) -> str:
    try:
        cert, _body, _sig = parse_cert(identity)
    except EncodingError:
        return "?"
    return f"{cert.org}.{cert.name}"


def _line(index: int, raw: bytes, code: ValidationCode) -> TxLine:
    try:
        envelope = decode_envelope(raw)
        proposal = decode_proposal(envelope.proposal)
    except EncodingError:
        return TxLine(index, "", code.name, "(config)", "", "")
    return TxLine(
        index,
        tx_id_of(envelope.proposal),
        code.name,
        proposal.contract,
        proposal.function,
        _member(proposal.creator),
    )


class Explorer:
    """Reads for the explorer pages, on the node's event loop (like the peer)."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.peer = ctx.node.peer

    def height(self) -> int:
        return self.peer.blocks.height()

    def block(self, number: int, *, lines: bool = True) -> BlockSummary:
        if not 0 <= number < self.height():
            raise LookupError(f"no block {number}")
        block: Block = self.peer.blocks.get(number)
        codes = block.codes or [ValidationCode.NOT_VALIDATED] * len(block.transactions)
        return BlockSummary(
            block.number,
            block.header.hash().hex(),
            block.header.previous_hash.hex(),
            block.header.data_hash.hex(),
            block.header.timestamp,
            len(block.transactions),
            _member(block.signer) if block.signer else "",
            [
                _line(i, raw, c)
                for i, (raw, c) in enumerate(zip(block.transactions, codes, strict=True))
            ]
            if lines
            else [],
        )

    def page(self, before: int | None) -> list[BlockSummary]:
        """Up to :data:`PAGE` blocks below ``before`` (default: the newest), newest first."""
        top = self.height() if before is None else min(before, self.height())
        return [self.block(n, lines=False) for n in range(top - 1, max(top - PAGE, 0) - 1, -1)]

    def recent(self) -> list[BlockSummary]:
        top = self.height()
        return [self.block(n, lines=False) for n in range(max(top - RECENT, 0), top)]

    def tx_per_minute(self, recent: list[BlockSummary]) -> float:
        """Committed transactions per minute over the recent blocks' time span."""
        if len(recent) < 2:
            return 0.0
        span_ms = recent[-1].timestamp - recent[0].timestamp
        if span_ms <= 0:
            return 0.0
        return sum(b.tx_count for b in recent[1:]) * 60_000 / span_ms

    def transaction(self, tx_id: str) -> TxDetail:
        record = self.peer.state.tx(tx_id)
        if record is None:
            raise LookupError("no committed transaction with that id")
        block = self.peer.blocks.get(record.block)
        envelope = decode_envelope(block.transactions[record.index])
        proposal = decode_proposal(envelope.proposal)
        response = decode_response(envelope.response)
        reads, writes, ranges = [], [], []
        for rw in response.rwsets:
            for r in rw.reads:
                version = "—" if r.version is None else f"{r.version[0]}:{r.version[1]}"
                reads.append((rw.namespace, r.key, version))
            for w in rw.writes:
                writes.append((rw.namespace, w.key, "delete" if w.value is None else "write"))
            for rr in rw.ranges:
                ranges.append((rw.namespace, rr.start, rr.end))
        return TxDetail(
            tx_id,
            record.block,
            record.index,
            ValidationCode(record.code).name,
            proposal.contract,
            proposal.function,
            _member(proposal.creator),
            proposal.timestamp,
            len(proposal.args),
            reads,
            writes,
            ranges,
            [_member(e.endorser) for e in envelope.endorsements],
            [e.name for e in response.events],
        )

    def organisations(self) -> list[str]:
        return self.ctx.node.membership().org_ids()

    def contracts(self) -> list[dict[str, Any]]:
        found = []
        for key, value in self.peer.state.range("_gov", "contract/", "contract0"):
            d = decode_value(value.value, ContractDefinition)
            found.append(
                {
                    "name": d.name,
                    "version": d.version,
                    "policy": d.policy,
                    "sequence": d.sequence,
                    "key": key,
                }
            )
        return found

    def motions(self) -> list[GovProposal]:
        motions = [
            decode_value(v.value, GovProposal)
            for _k, v in self.peer.state.range("_gov", "proposal/", "proposal0", limit=500)
        ]
        return sorted(motions, key=lambda p: p.created_at, reverse=True)

    def key_history(self, text: str) -> list[tuple[str, str, list[tuple[str, str, bool]]]]:
        """(namespace, key, [(version, tx id, deleted)]) for ``ns:key`` or a key in any
        enabled contract's namespace."""
        known = [*SYSTEM_NAMESPACES, *(c["name"] for c in self.contracts())]
        namespace, _, key = text.partition(":")
        if namespace not in known:  # not "namespace:key": the whole text is a key
            namespace, key = "", text
        found = []
        for ns in [namespace] if namespace else known:
            history = self.peer.state.history(ns, key)
            if history:
                versions = [(f"{h.version[0]}:{h.version[1]}", h.tx_id, h.deleted)
                            for h in history[-50:]]  # fmt: skip
                found.append((ns, key, versions))
        return found

    async def peer_states(self) -> list[PeerState]:
        """This node's state and every configured peer's (signed ``GET /v1/state``)."""
        own = self.ctx.node.state()
        states = [PeerState(own.org, "this node", own.height, own.state_root)]
        identity = self.ctx.node.gateway.identity

        async def one(client: httpx.AsyncClient, org: str, url: str) -> PeerState:
            target = "/v1/state"
            try:
                reply = await client.get(
                    url.rstrip("/") + target, headers=sign_request(identity, "GET", target, b"")
                )
                reply.raise_for_status()
                body = reply.json()
                return PeerState(org, url, int(body["height"]), str(body["state_root"]))
            except (httpx.HTTPError, ValueError, KeyError, CareLedgerError) as exc:
                return PeerState(org, url, None, "", type(exc).__name__)

        if self.ctx.peers:
            async with httpx.AsyncClient(timeout=3.0, verify=self.ctx.verify) as client:
                others = await asyncio.gather(
                    *(one(client, org, url) for org, url in sorted(self.ctx.peers.items()))
                )
            states.extend(others)
        return states

    def ordering_health(self) -> str:
        backend = self.ctx.ordering or "embedded"
        probe = getattr(self.ctx.ordering_health, "health", None)
        if callable(probe):
            try:
                return f"{backend}: {probe()}"
            except Exception as exc:  # a probe is informative only
                return f"{backend}: unavailable ({type(exc).__name__})"
        return f"{backend}: no health probe (ordering in this process)"
