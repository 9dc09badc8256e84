"""The embedded network end to end: random concurrent workloads keep every peer on one verifiable
chain with points conserved; bad input is refused before it can change anything; a restarted
network carries on where it stopped."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from careledger.contracts.registry import default_registry
from careledger.crypto.keys import BatchVerifier
from careledger.errors import (
    ContractError,
    EndorsementError,
    EndorserUnavailable,
    InvalidInput,
    PolicyError,
    TransactionInvalid,
    UnknownContract,
)
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode as Code
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.ledger.transaction import MAX_ENVELOPE_BYTES, MAX_PROPOSAL_BYTES, Endorsement
from careledger.node.consortium import ConsortiumConfig
from careledger.node.gateway import Gateway, LocalEndorser
from careledger.node.network import EmbeddedNetwork
from careledger.node.peer import Peer
from tests.harness import (
    approve_contract,
    assert_consistent,
    balances,
    fund,
    history_tx_ids,
    new_consortium,
    registry_with_notebook,
    running,
    settle,
    world,
)

# -- random workloads ------------------------------------------------------------------------
# Accounts and the organisation that owns each: a transfer is submitted by the owner's client.
OWNERS = {"a0": "Org1", "a1": "Org1", "a2": "Org2", "a3": "Org3"}
ACCOUNTS = list(OWNERS)

transfers = st.tuples(
    st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.integers(1, 60)
).filter(lambda t: t[0] != t[1])
# Each round's transfers are submitted at once, so those touching one account conflict.
rounds = st.lists(st.lists(transfers, min_size=1, max_size=6), min_size=1, max_size=4)
mints = st.fixed_dictionaries({a: st.integers(0, 100) for a in ACCOUNTS})


async def run_workload(
    directory: Path,
    minted: dict[str, int],
    workload: list[list[tuple[str, str, int]]],
    *,
    workers: bool = False,
) -> None:
    config = new_consortium(directory)
    async with running(config, workers=workers) as net:
        for org in sorted(set(OWNERS.values())):
            await fund(net, {a: minted[a] for a in ACCOUNTS if OWNERS[a] == org}, owner=org)
        expected = dict(minted)
        conflicted: list[str] = []
        valid = 0
        first_block = net.peers["Org1"].blocks.height()
        for batch in workload:
            outcomes = await asyncio.gather(
                *(
                    net.gateway(OWNERS[src]).submit("tokens", "transfer", [src, dst, n], retries=0)
                    for src, dst, n in batch
                ),
                return_exceptions=True,
            )
            for (src, dst, amount), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, TransactionInvalid):
                    assert outcome.code == Code.MVCC_READ_CONFLICT.name
                    conflicted.append(outcome.tx_id)
                elif isinstance(outcome, ContractError):
                    assert "less than" in str(outcome)  # simulated on a balance too low
                elif isinstance(outcome, EndorsementError):
                    pass  # endorsed while a block was committing: refused, never ordered
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    assert outcome.code is Code.VALID
                    valid += 1
                    expected[src] -= amount
                    expected[dst] += amount
            await settle(net)

        event(f"MVCC conflicts: {'some' if conflicted else 'none'}")
        # Only what committed or conflicted was ordered; refused calls never reached a block.
        blocks = list(net.peers["Org1"].blocks)[first_block:]
        assert sum(len(b.transactions) for b in blocks) == valid + len(conflicted)
        # Exactly the valid transfers took effect, whatever order they committed in.
        actual = await balances(net, ACCOUNTS)
        assert actual == [expected[a] for a in ACCOUNTS]
        assert min(actual) >= 0
        assert sum(actual) == sum(minted.values())
        assert await net.gateway("Org3").evaluate("tokens", "supply", []) == sum(minted.values())
        # A conflicting transaction is recorded as such everywhere and wrote nothing.
        written = set().union(*(history_tx_ids(net, "tokens", f"acct/{a}") for a in ACCOUNTS))
        for tx_id in conflicted:
            for peer in net.peers.values():
                record = peer.state.tx(tx_id)
                assert record is not None
                assert record.code == Code.MVCC_READ_CONFLICT
            assert tx_id not in written
        await assert_consistent(net)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(mints, rounds)
def test_random_concurrent_transfers_conserve_points_and_keep_peers_identical(
    minted: dict[str, int], workload: list[list[tuple[str, str, int]]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_workload(Path(tmp) / "consortium", minted, workload))


def test_concurrent_spends_of_one_account_commit_once_and_conflict_otherwise(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            client = net.gateway("Org1")
            outcomes = await asyncio.gather(
                *(
                    client.submit("tokens", "transfer", ["a1", "a2", 1], retries=0)
                    for _ in range(8)
                ),
                return_exceptions=True,
            )
            conflicts = [o for o in outcomes if isinstance(o, TransactionInvalid)]
            assert all(c.code == Code.MVCC_READ_CONFLICT.name for c in conflicts)
            assert len(conflicts) == 7
            assert await balances(net, ["a1", "a2"]) == [99, 1]
            await assert_consistent(net)

    asyncio.run(scenario())


def test_the_gateway_retries_a_conflict_with_a_fresh_endorsement(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            client = net.gateway("Org1")
            await asyncio.gather(
                *(client.submit("tokens", "transfer", ["a1", "a2", 1], retries=3) for _ in range(3))
            )
            assert await balances(net, ["a1", "a2"]) == [97, 3]

    asyncio.run(scenario())


def test_an_endorser_lagging_behind_is_skew_to_retry_not_a_contract_error(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario(behind: Peer) -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10, "a2": 0})
            ahead = net.peers["Org1"]
            for block in ahead.blocks:
                behind.commit_block(block)
            await net.gateway("Org1", "admin").submit("tokens", "mint", ["a1", 5])
            # The Org1 peer has committed the mint; this Org2 peer has not: it finds 10 points
            # where Org1 finds 15, and refuses a transfer of 15.
            client = net.gateway("Org1")
            endorsers = {**client.endorsers, "Org2": LocalEndorser(behind)}
            gateway = Gateway(client.identity, ahead, endorsers, client.ordering)
            gateway.endorsing_orgs = lambda _contract, _exclude=(): ["Org1", "Org2"]  # type: ignore[method-assign]
            with pytest.raises(EndorsementError, match="disagree") as caught:
                await gateway.submit("tokens", "transfer", ["a1", "a2", 15], retries=0)
            assert "less than 15" in str(caught.value.__cause__)

            for n in range(behind.blocks.height(), ahead.blocks.height()):
                behind.commit_block(ahead.blocks.get(n))
            await gateway.submit("tokens", "transfer", ["a1", "a2", 15], retries=0)
            assert await balances(net, ["a1", "a2"], org="Org2") == [0, 15]

    behind = Peer(
        consortium.member("Org2", "peer0"),
        SQLiteStateStore(tmp_path / "behind.db"),
        BlockStore(tmp_path / "behind.log"),
        default_registry(),
        BatchVerifier(workers=1),
    )
    try:
        asyncio.run(scenario(behind))
    finally:
        behind.close()
        behind.validator.verifier.close()


# -- bad input -------------------------------------------------------------------------------
async def assert_nothing_ordered(net: EmbeddedNetwork, height: int, before: Any) -> None:
    assert net.orderer is not None
    assert net.orderer.height == height
    assert not net.orderer.cutter.pending
    assert await world(net, ("tokens", "_gov", "notebook")) == before


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff\x00", b"\xa0", b"\xa1aa\x01", "text", bytes(MAX_ENVELOPE_BYTES + 1)],
    ids=["empty", "garbage", "empty-map", "wrong-shape", "not-bytes", "oversized"],
)
def test_malformed_envelopes_are_refused_by_ordering(
    consortium: ConsortiumConfig, raw: Any
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            assert net.orderer is not None
            height, before = net.orderer.height, await world(net, ("tokens", "_gov", "notebook"))
            with pytest.raises(InvalidInput):
                await net.orderer.broadcast(raw)
            await assert_nothing_ordered(net, height, before)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("contract", "function", "args", "error", "reason"),
    [
        ("ghost", "f", [], UnknownContract, "'ghost' has no definition"),
        ("notebook", "erase", [], ContractError, "no function 'erase'"),
        ("notebook", "write", ["n1"], InvalidInput, "takes 2 arguments"),
        ("notebook", "write", ["n1", 7], InvalidInput, "argument 'text'"),
        ("notebook", "write", ["n1", "x" * (MAX_PROPOSAL_BYTES + 1)], InvalidInput, "exceeds"),
        ("notebook", "write", ["k" * 300, "x"], ContractError, "state keys"),
        ("notebook", "write_mistyped", ["n1"], ContractError, "does not match schema Note"),
        ("notebook", "write_undeclared", ["n1"], ContractError, "no schema for key prefix"),
        ("notebook", "write_float", ["n1"], ContractError, "floats are not allowed"),
        ("notebook", "stamp", [], EndorsementError, "returned different results"),
    ],
    ids=[
        "unknown-contract",
        "unknown-function",
        "argument-count",
        "argument-type",
        "oversized-proposal",
        "overlong-key",
        "value-of-another-schema",
        "undeclared-key-prefix",
        "float-in-state",
        "non-deterministic",
    ],
)
def test_bad_requests_are_refused_before_ordering_and_change_nothing(
    consortium: ConsortiumConfig,
    contract: str,
    function: str,
    args: list[Any],
    error: type[Exception],
    reason: str,
) -> None:
    async def scenario() -> None:
        async with running(
            consortium, contracts=("notebook",), registry=registry_with_notebook()
        ) as net:
            assert net.orderer is not None
            client = net.gateway("Org1")
            await client.submit("notebook", "write", ["n0", "kept"])
            height, before = net.orderer.height, await world(net, ("tokens", "_gov", "notebook"))
            with pytest.raises(error, match=reason):
                await client.submit(contract, function, args, retries=0)
            await assert_nothing_ordered(net, height, before)

    asyncio.run(scenario())


def test_a_policy_naming_an_unreachable_organisation_fails_before_ordering(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            await approve_contract(net, "tokens", policy="AND(Org1, Org9)")
            assert net.orderer is not None
            height = net.orderer.height
            with pytest.raises(PolicyError, match="cannot be met"):
                await net.gateway("Org1").submit("tokens", "open", ["a1"])
            assert net.orderer.height == height

    asyncio.run(scenario())


class RevokedPeerEndorser:
    """A stale or dishonest endorser: Org1's result, signed with Org3's revoked peer identity."""

    org = "Org3"

    def __init__(self, net: EmbeddedNetwork, config: ConsortiumConfig) -> None:
        self.simulator = net.peers["Org1"]
        self.identity = config.member("Org3", "peer0")
        self.asked = 0

    async def endorse(self, proposal: bytes, signature: bytes) -> tuple[bytes, Endorsement]:
        self.asked += 1
        response, _ = self.simulator.endorse(proposal, signature)
        return response, Endorsement(self.identity.identity, self.identity.sign(response))


def test_a_revoked_peer_is_not_counted_as_an_endorser(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            serial = consortium.member("Org3", "peer0").cert.serial
            change = {"org": "Org3", "serial": str(serial)}
            motion = await net.gateway("Org1", "admin").submit(
                "_gov", "propose", ["revoke_member", change]
            )
            await settle(net)
            await net.gateway("Org2", "admin").submit("_gov", "approve", [motion.result["id"]])
            await settle(net)
            # The revoked peer refuses to endorse, as unavailable: gateways ask another org.
            proposal = net.gateway("Org3").proposal("tokens", "open", ["r0"])
            with pytest.raises(EndorserUnavailable, match="revoked"):
                await LocalEndorser(net.peers["Org3"]).endorse(*proposal)
            opened = await net.gateway("Org3").submit("tokens", "open", ["r1"])
            assert opened.code is Code.VALID
            # An endorser that signs anyway (stale or dishonest) is caught by the gateway, which
            # re-plans with the other organisations instead of ordering a transaction that would
            # fail validation.
            dishonest = RevokedPeerEndorser(net, consortium)
            gateway = net.gateway("Org3")
            gateway.endorsers["Org3"] = dishonest
            for i in range(3):
                result = await gateway.submit("tokens", "open", [f"r{i + 2}"])
                assert result.code is Code.VALID
            assert dishonest.asked == 1  # then left out of plans for a while
            await assert_consistent(net)

    asyncio.run(scenario())


def test_a_peer_does_not_verify_again_what_it_verified_or_signed_when_endorsing(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            before = {org: peer.memo.hits for org, peer in net.peers.items()}
            await fund(net, {"m1": 5})
            # Org1's gateway asks Org1 and one other: both skip the creator signature and their
            # own endorsement at validation; the third peer verifies all of them.
            gained = {org: peer.memo.hits - before[org] for org, peer in net.peers.items()}
            assert gained["Org1"] >= 4  # open and mint: creator + own endorsement each
            assert sorted(gained.values())[0] < gained["Org1"]
            await assert_consistent(net)  # a fresh validator (no memo) gives the same codes

    asyncio.run(scenario())


# -- restart ---------------------------------------------------------------------------------
def test_a_stopped_network_restarts_where_it_stopped(consortium: ConsortiumConfig) -> None:
    async def first_run() -> tuple[int, bytes]:
        async with running(consortium) as net:
            await fund(net, {"a1": 30, "a2": 0})
            await net.gateway("Org1").submit("tokens", "transfer", ["a1", "a2", 10])
            return net.peers["Org1"].height(), net.peers["Org1"].state.state_root()

    async def second_run(height: int, root: bytes) -> None:
        async with EmbeddedNetwork.open(consortium.dir) as net:
            assert {p.height() for p in net.peers.values()} == {height}
            assert {p.state.state_root() for p in net.peers.values()} == {root}
            assert all(p.recovered_blocks == 0 for p in net.peers.values())
            assert await balances(net, ["a1", "a2"]) == [20, 10]
            await net.gateway("Org2").submit("tokens", "open", ["b1"])
            await net.gateway("Org1").submit("tokens", "transfer", ["a1", "b1", 5])
            assert await balances(net, ["a1", "a2", "b1"]) == [15, 10, 5]
            await assert_consistent(net)

    asyncio.run(second_run(*asyncio.run(first_run())))
