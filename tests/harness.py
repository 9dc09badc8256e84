"""Running an embedded consortium in tests: start it, approve contracts, craft and order envelopes
directly (bypassing the gateway's checks, as a hostile client or a colluding endorser would), and
check that every peer holds the same, verifiable chain.

Not a fixture module: :mod:`tests.conftest` wraps what tests use as fixtures; property tests
(which cannot take function-scoped fixtures) call these functions directly.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke
from careledger.contracts.registry import ContractRegistry, default_registry
from careledger.crypto.keys import BatchVerifier, SigningKey
from careledger.crypto.merkle import merkle_root
from careledger.errors import EncodingError
from careledger.identity.msp import LocalIdentity, Role, enrol
from careledger.ledger.block import GENESIS_PREVIOUS_HASH
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode
from careledger.ledger.state.memory import MemoryStateStore
from careledger.ledger.transaction import (
    Endorsement,
    Envelope,
    NsRWSet,
    Proposal,
    ProposalResponse,
    decode_envelope,
    tx_id_of,
)
from careledger.node.consortium import ConsortiumConfig, init_consortium
from careledger.node.gateway import Gateway, LocalEndorser
from careledger.node.network import EmbeddedNetwork
from careledger.ordering.base import CutterConfig
from careledger.ordering.solo import SoloOrderer
from careledger.validation.validator import BlockValidator

ORGS = ("Org1", "Org2", "Org3")
TOKENS_POLICY = "2 OF (Org1, Org2, Org3)"
# A short batch timeout keeps the suite fast; the cutting logic is the same at any timeout.
TEST_CUTTER = CutterConfig(batch_timeout=0.01)

World = dict[str, dict[str, tuple[bytes, tuple[int, int]]]]


def new_consortium(directory: Path) -> ConsortiumConfig:
    return init_consortium(directory, list(ORGS), cutter=TEST_CUTTER)


# -- a contract that exercises what tokens does not: range reads, schemas, non-determinism ------
class Note(msgspec.Struct, frozen=True):
    text: str


class Tally(msgspec.Struct, frozen=True):
    count: int


class Reading(msgspec.Struct, frozen=True):
    value: float


class Notebook(Contract):
    name = "notebook"
    version = "1.0"
    schemas = {"note": Note, "tally": Tally, "reading": Reading}
    _calls = itertools.count()

    @invoke
    def write(self, stub: Stub, key: str, text: str) -> None:
        stub.put(f"note/{key}", Note(text))

    @invoke
    def tally(self, stub: Stub) -> int:
        count = len(stub.range("note/", "note0"))
        stub.put("tally", Tally(count))
        return count

    @invoke
    def write_mistyped(self, stub: Stub, key: str) -> None:
        stub.put(f"note/{key}", Tally(1))

    @invoke
    def write_undeclared(self, stub: Stub, key: str) -> None:
        stub.put(f"scratch/{key}", Note("x"))

    @invoke
    def write_float(self, stub: Stub, key: str) -> None:
        stub.put(f"reading/{key}", Reading(0.5))

    @invoke
    def stamp(self, stub: Stub) -> int:
        # Deliberately non-deterministic: each endorser sees a different counter value.
        value = next(self._calls)
        stub.put("tally", Tally(value))
        return value


def registry_with_notebook() -> ContractRegistry:
    registry = default_registry()
    registry.register(Notebook)
    return registry


# -- running a network ----------------------------------------------------------------------
async def approve_contract(
    net: EmbeddedNetwork, name: str, policy: str = TOKENS_POLICY, version: str = "1.0"
) -> dict[str, Any]:
    """Org1's admin proposes the definition and Org2's admin approves it (2 of 3 orgs)."""
    change = {"name": name, "version": version, "policy": policy}
    proposed = await net.gateway("Org1", "admin").submit("_gov", "propose", ["contract", change])
    await settle(net)
    approved = await net.gateway("Org2", "admin").submit("_gov", "approve", [proposed.result["id"]])
    assert approved.result["status"] == "applied"
    await settle(net)
    return approved.result  # type: ignore[no-any-return]


@asynccontextmanager
async def running(
    config: ConsortiumConfig,
    *,
    contracts: tuple[str, ...] = ("tokens",),
    registry: ContractRegistry | None = None,
    workers: bool = False,
) -> AsyncIterator[EmbeddedNetwork]:
    """A started network with ``contracts`` approved; always stopped on exit. ``workers``: peers
    validate and commit in worker processes."""
    net = EmbeddedNetwork(config, registry, workers=workers)
    await net.start()
    try:
        for name in contracts:
            await approve_contract(net, name)
        yield net
    finally:
        await net.stop()


async def fund(net: EmbeddedNetwork, balances: dict[str, int], owner: str = "Org1") -> None:
    """Open accounts owned by ``owner`` and mint their balances (by ``owner``'s admin)."""
    client, admin = net.gateway(owner), net.gateway(owner, "admin")
    await asyncio.gather(*(client.submit("tokens", "open", [a]) for a in balances))
    for account, amount in balances.items():
        if amount:
            await admin.submit("tokens", "mint", [account, amount])
    # A gateway returns once its own peer commits; let every endorser catch up too.
    await settle(net)


async def balances(net: EmbeddedNetwork, accounts: list[str], org: str = "Org1") -> list[int]:
    """Balances as ``org``'s peer reports them once it has committed all that was ordered."""
    await settle(net)
    gateway = net.gateway(org)
    return [await gateway.evaluate("tokens", "balance", [a]) for a in accounts]


# -- crafting and ordering envelopes ---------------------------------------------------------
async def endorsed(
    gateway: Gateway, contract: str, function: str, args: list[Any]
) -> tuple[str, Envelope]:
    """A properly signed and endorsed envelope that has not been ordered, endorsed once every
    peer the gateway asks has committed all that was ordered."""
    if isinstance(gateway.ordering, SoloOrderer):
        height = await _all_cut(gateway.ordering)
    else:  # other backends: wait for the endorsers to reach the gateway's own peer
        height = gateway.peer.height()
    peers = [e.peer for e in gateway.endorsers.values() if isinstance(e, LocalEndorser)]
    while any(p.height() < height for p in peers):
        await asyncio.sleep(0.002)
    proposal, signature = gateway.proposal(contract, function, args)
    return tx_id_of(proposal), await gateway.endorse(contract, proposal, signature)


def endorse_as(signers: list[LocalIdentity], response: ProposalResponse) -> list[Endorsement]:
    """Endorsements over ``response`` by whoever holds these keys (e.g. colluding endorsers)."""
    body = response.to_bytes()
    return [Endorsement(s.identity, s.sign(body)) for s in signers]


def envelope_for(
    creator: LocalIdentity,
    contract: str,
    function: str,
    args: list[Any],
    *,
    rwsets: list[NsRWSet] | None = None,
    endorsers: list[LocalIdentity] | None = None,
) -> tuple[str, Envelope]:
    """An envelope built by hand: ``creator`` signs the proposal, ``endorsers`` sign a response
    carrying ``rwsets`` whatever a peer would have simulated."""
    proposal = Proposal(
        contract=contract,
        function=function,
        args=list(args),
        creator=creator.identity,
        nonce=os.urandom(16),
        timestamp=int(time.time() * 1000),
    ).to_bytes()
    tx_id = tx_id_of(proposal)
    response = ProposalResponse(tx_id, None, list(rwsets or []), [])
    endorsements = endorse_as(list(endorsers or []), response)
    return tx_id, Envelope(proposal, creator.sign(proposal), response.to_bytes(), endorsements)


def peers_of(config: ConsortiumConfig, *orgs: str) -> list[LocalIdentity]:
    return [config.member(org, "peer0") for org in orgs]


def impostor(org: str, name: str, role: Role) -> LocalIdentity:
    """A member certificate for ``org`` signed by a root key that is not ``org``'s."""
    return enrol(SigningKey.generate(), org, name, role, serial=99, issued_at=0)


async def _all_cut(orderer: SoloOrderer) -> int:
    """The orderer's height once everything broadcast so far is in a block."""
    while orderer.cutter.pending:
        await asyncio.sleep(0.002)
    for _ in range(3):  # let a block cut by the batch timer be emitted
        await asyncio.sleep(0)
    return orderer.height


async def settle(net: EmbeddedNetwork) -> None:
    """Wait until everything broadcast so far is in a block every peer has committed.

    A gateway returns once *its own* peer commits; other peers may still be a block behind.
    """
    assert net.orderer is not None
    await net.wait_height(await _all_cut(net.orderer), timeout=10)


async def order(net: EmbeddedNetwork, *envelopes: Envelope | bytes) -> None:
    """Broadcast envelopes as they are (no gateway checks) and wait for every peer to commit."""
    assert net.orderer is not None
    for envelope in envelopes:
        raw = envelope if isinstance(envelope, bytes) else envelope.to_bytes()
        await net.orderer.broadcast(raw)
    await settle(net)


def occurrences(
    net: EmbeddedNetwork, tx_id: str, org: str = "Org1"
) -> list[tuple[int, ValidationCode]]:
    """(block number, code) of every occurrence of ``tx_id`` in ``org``'s chain, in order."""
    found = []
    for block in net.peers[org].blocks:
        if block.number == 0:
            continue
        for raw, code in zip(block.transactions, block.codes, strict=True):
            try:
                envelope = decode_envelope(raw)
            except EncodingError:  # a malformed envelope has no transaction id
                continue
            if tx_id_of(envelope.proposal) == tx_id:
                found.append((block.number, code))
    return found


def codes_of(net: EmbeddedNetwork, tx_id: str, org: str = "Org1") -> list[ValidationCode]:
    return [code for _, code in occurrences(net, tx_id, org)]


async def world(net: EmbeddedNetwork, namespaces: tuple[str, ...] = ("tokens", "_gov")) -> World:
    """Every (namespace/key → value, version), once all peers have committed all that was
    ordered, after checking they agree."""
    await settle(net)
    views = []
    for peer in net.peers.values():
        view: World = {}
        for ns in namespaces:
            view[ns] = {k: (vv.value, vv.version) for k, vv in peer.state.range(ns, "", "")}
        views.append(view)
    assert all(v == views[0] for v in views), "peers hold different world states"
    return views[0]


def history_tx_ids(net: EmbeddedNetwork, namespace: str, key: str) -> set[str]:
    ids: set[str] = set()
    for peer in net.peers.values():
        ids |= {h.tx_id for h in peer.state.history(namespace, key)}
    return ids


# -- chain integrity -------------------------------------------------------------------------
def replay(store: BlockStore) -> tuple[MemoryStateStore, list[list[ValidationCode]]]:
    """Re-validate every stored block into a fresh in-memory state; return it and the codes."""
    state = MemoryStateStore()
    verifier = BatchVerifier(workers=1)
    validator = BlockValidator(state, verifier)
    codes = []
    previous: bytes | None = None
    try:
        for block in store:
            validated = validator.validate(block, previous)
            state.commit(validated.update)
            if validator.touches_governance(validated):
                validator.invalidate()
            codes.append(validated.codes)
            previous = block.header.hash()
    finally:
        verifier.close()
    return state, codes


async def assert_consistent(net: EmbeddedNetwork) -> None:
    """Once all that was ordered is committed, every peer: same height and state root, a
    hash-linked chain whose Merkle roots check out, and the same codes and state root when the
    chain is re-validated from scratch."""
    await settle(net)
    peers = list(net.peers.values())
    heights = {(p.height(), p.blocks.height()) for p in peers}
    assert len(heights) == 1, f"peer heights differ: {heights}"
    roots = {p.state.state_root() for p in peers}
    assert len(roots) == 1, "peers hold different state roots"
    chains = []
    for peer in peers:
        chain = []
        previous = GENESIS_PREVIOUS_HASH
        for block in peer.blocks:
            assert block.header.previous_hash == previous, f"block {block.number} is not linked"
            assert block.header.data_hash == merkle_root(block.transactions)
            previous = block.header.hash()
            chain.append((previous, block.codes))
        chains.append(chain)
    assert all(c == chains[0] for c in chains), "peers hold different chains"
    state, codes = replay(peers[0].blocks)
    assert codes == [c for _, c in chains[0]]
    assert state.state_root() == peers[0].state.state_root()
