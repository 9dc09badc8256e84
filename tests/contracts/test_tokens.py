"""Care points: admins mint, owners' organisations move points, and the total is conserved.

Every refused call is checked to leave the world state as it was and to order nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from careledger.contracts.tokens import MAX_AMOUNT
from careledger.errors import CareLedgerError, ContractError, InvalidInput
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from tests.harness import assert_consistent, balances, fund, running, world


async def refused(
    net: EmbeddedNetwork,
    org: str,
    member: str,
    function: str,
    args: list[Any],
    error: type[CareLedgerError],
    reason: str,
) -> None:
    """Submitting raises ``error`` matching ``reason``; nothing is ordered or changed."""
    assert net.orderer is not None
    before, height = await world(net), net.orderer.height
    with pytest.raises(error, match=reason):
        await net.gateway(org, member).submit("tokens", function, args)
    assert net.orderer.height == height
    assert not net.orderer.cutter.pending
    assert await world(net) == before


def test_mint_open_and_transfer_move_points_and_conserve_the_supply(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            admin, client = net.gateway("Org1", "admin"), net.gateway("Org1")
            assert (await admin.submit("tokens", "mint", ["a1", 100])).result == 100
            assert (await admin.submit("tokens", "mint", ["a1", 20])).result == 120
            await net.gateway("Org2").submit("tokens", "open", ["b1"])
            assert (await client.submit("tokens", "transfer", ["a1", "b1", 45])).result == 75
            assert await balances(net, ["a1", "b1"]) == [75, 45]
            assert await client.evaluate("tokens", "supply", []) == 120
            # b1 belongs to Org2: only Org2's members move points out of it.
            await net.gateway("Org2").submit("tokens", "transfer", ["b1", "a1", 5])
            assert await balances(net, ["a1", "b1"]) == [80, 40]
            await assert_consistent(net)

    asyncio.run(scenario())


def test_transfer_events_reach_subscribers_when_the_block_commits(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10, "a2": 0})
            seen: list[tuple[str, str, Any]] = []
            unsubscribe = net.peers["Org3"].subscribe(lambda event: seen.extend(event.events))
            result = await net.gateway("Org1").submit("tokens", "transfer", ["a1", "a2", 4])
            await net.wait_height(net.peers["Org1"].height())
            unsubscribe()
            assert seen == [
                (result.tx_id, "tokens.transfer", {"source": "a1", "target": "a2", "amount": 4})
            ]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("org", "member", "function", "args", "error", "reason"),
    [
        ("Org1", "client0", "mint", ["a1", 5], ContractError, "only an organisation admin"),
        ("Org1", "admin", "mint", ["a1", 0], InvalidInput, "amount must be between"),
        ("Org1", "admin", "mint", ["a1", MAX_AMOUNT + 1], InvalidInput, "amount must be"),
        ("Org1", "admin", "mint", ["bad id!", 5], InvalidInput, "account id"),
        ("Org1", "client0", "open", ["a1"], ContractError, "already exists"),
        ("Org1", "client0", "open", ["x" * 65], InvalidInput, "account id"),
        ("Org1", "client0", "transfer", ["a1", "a2", 11], ContractError, "holds 10, less than 11"),
        ("Org1", "client0", "transfer", ["a1", "a2", -1], InvalidInput, "amount must be"),
        ("Org1", "client0", "transfer", ["a1", "a1", 1], InvalidInput, "must differ"),
        ("Org1", "client0", "transfer", ["a1", "zz", 1], ContractError, "unknown account zz"),
        ("Org1", "client0", "transfer", ["zz", "a1", 1], ContractError, "unknown account zz"),
        ("Org2", "client0", "transfer", ["a1", "a2", 1], ContractError, "Org2 may not move"),
        ("Org2", "admin", "transfer", ["a1", "a2", 1], ContractError, "Org2 may not move"),
    ],
)
def test_a_refused_call_changes_nothing(
    consortium: ConsortiumConfig,
    org: str,
    member: str,
    function: str,
    args: list[Any],
    error: type[CareLedgerError],
    reason: str,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10, "a2": 0})
            await refused(net, org, member, function, args, error, reason)
            assert await balances(net, ["a1", "a2"]) == [10, 0]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("function", "args", "reason"),
    [
        ("mint", ["a1", "5"], "argument 'amount': Expected `int`, got `str`"),
        ("mint", ["a1", True], "argument 'amount': Expected `int`, got `bool`"),
        ("mint", [5, 5], "argument 'account': Expected `str`, got `int`"),
        ("mint", ["a1", None], "argument 'amount'"),
        ("mint", ["a1"], r"takes 2 arguments \(account, amount\), got 1"),
        ("mint", ["a1", 5, 6], "takes 2 arguments"),
        ("transfer", [], r"takes 3 arguments \(source, target, amount\), got 0"),
    ],
)
def test_wrong_argument_types_or_count_are_refused_naming_the_argument(
    consortium: ConsortiumConfig, function: str, args: list[Any], reason: str
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10})
            await refused(net, "Org1", "admin", function, args, InvalidInput, reason)

    asyncio.run(scenario())


def test_a_float_argument_is_refused_before_anything_is_signed(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10})
            await refused(net, "Org1", "admin", "mint", ["a1", 2.5], InvalidInput, "floats")

    asyncio.run(scenario())


def test_unknown_functions_and_queries_cannot_be_submitted(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10})
            await refused(net, "Org1", "admin", "burn", ["a1", 1], ContractError, "no function")
            await refused(net, "Org1", "admin", "balance", ["a1"], ContractError, "is a query")
            client = net.gateway("Org1")
            with pytest.raises(ContractError, match="no function 'burn'"):
                await client.evaluate("tokens", "burn", [])
            # A query runs on a read-only view: evaluating a transaction function cannot write.
            with pytest.raises(ContractError, match="a query cannot write state"):
                await client.evaluate("tokens", "open", ["a9"])
            with pytest.raises(ContractError, match="unknown account a9"):
                await client.evaluate("tokens", "balance", ["a9"])

    asyncio.run(scenario())
