"""Governance: contracts run only once a majority of organisations approve them; admins alone
change the consortium; a revoked member or removed organisation can no longer transact."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from careledger.contracts.tokens import Account
from careledger.contracts.values import decode_value
from careledger.crypto.keys import SigningKey
from careledger.errors import (
    ContractError,
    EndorserUnavailable,
    InvalidInput,
    MembershipError,
    UnknownContract,
)
from careledger.identity.msp import Role, enrol
from careledger.ledger.codes import ValidationCode as Code
from careledger.ledger.transaction import Endorsement, Envelope, tx_id_of
from careledger.node.consortium import ConsortiumConfig
from careledger.node.gateway import Gateway
from careledger.node.network import EmbeddedNetwork
from tests.harness import (
    TOKENS_POLICY,
    assert_consistent,
    balances,
    codes_of,
    endorsed,
    fund,
    order,
    running,
    settle,
    world,
)

TOKENS = {"name": "tokens", "version": "1.0", "policy": TOKENS_POLICY}


async def propose(net: EmbeddedNetwork, org: str, kind: str, change: dict[str, str]) -> str:
    result = await net.gateway(org, "admin").submit("_gov", "propose", [kind, change])
    await settle(net)
    return str(result.result["id"])


async def approve(net: EmbeddedNetwork, org: str, proposal_id: str) -> dict[str, Any]:
    result = await net.gateway(org, "admin").submit("_gov", "approve", [proposal_id])
    await settle(net)
    return result.result  # type: ignore[no-any-return]


def nothing_ordered(net: EmbeddedNetwork, height: int) -> bool:
    assert net.orderer is not None
    return net.orderer.height == height and not net.orderer.cutter.pending


def test_a_contract_cannot_be_used_before_governance_approves_it(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            assert net.orderer is not None
            height = net.orderer.height
            client = net.gateway("Org1")
            with pytest.raises(UnknownContract, match="no definition approved"):
                await client.submit("tokens", "open", ["a1"])
            with pytest.raises(UnknownContract):
                await client.evaluate("tokens", "supply", [])
            assert nothing_ordered(net, height)
            assert await client.evaluate("_gov", "contract", ["tokens"]) is None

    asyncio.run(scenario())


def test_one_approval_of_three_is_not_enough_and_two_apply_the_definition(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            client = net.gateway("Org1")
            proposal_id = await propose(net, "Org1", "contract", TOKENS)
            proposal = await client.evaluate("_gov", "proposal", [proposal_id])
            assert (proposal["status"], proposal["approvals"]) == ("open", ["Org1"])
            with pytest.raises(UnknownContract):
                await client.submit("tokens", "open", ["a1"])

            applied = await approve(net, "Org3", proposal_id)
            assert (applied["status"], applied["approvals"]) == ("applied", ["Org1", "Org3"])
            definition = await client.evaluate("_gov", "contract", ["tokens"])
            assert definition == {**TOKENS, "sequence": 1}
            await client.submit("tokens", "open", ["a1"])
            assert await client.evaluate("tokens", "balance", ["a1"]) == 0

            with pytest.raises(ContractError, match="already applied"):
                await approve(net, "Org2", proposal_id)
            with pytest.raises(ContractError, match="no governance proposal"):
                await approve(net, "Org2", "0123456789abcdef")

    asyncio.run(scenario())


def test_an_organisation_approves_once(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            proposal_id = await propose(net, "Org1", "contract", TOKENS)
            with pytest.raises(ContractError, match="already approved"):
                await approve(net, "Org1", proposal_id)
            proposal = await net.gateway("Org1").evaluate("_gov", "proposal", [proposal_id])
            assert proposal["status"] == "open"

    asyncio.run(scenario())


@pytest.mark.parametrize("member", ["client0", "peer0"])
def test_only_an_admin_may_propose_or_approve(consortium: ConsortiumConfig, member: str) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            assert net.orderer is not None
            proposal_id = await propose(net, "Org1", "contract", TOKENS)
            before, height = await world(net), net.orderer.height
            someone = net.gateway("Org2", member)
            with pytest.raises(ContractError, match="only an organisation admin"):
                await someone.submit("_gov", "propose", ["contract", TOKENS])
            with pytest.raises(ContractError, match="only an organisation admin"):
                await someone.submit("_gov", "approve", [proposal_id])
            assert await world(net) == before
            assert nothing_ordered(net, height)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("kind", "change", "reason"),
    [
        ("promote", {"org": "Org1"}, "unknown change kind"),
        ("contract", {"name": "tokens", "version": "1.0"}, "exactly the fields"),
        ("contract", {**TOKENS, "extra": "x"}, "exactly the fields"),
        ("contract", {**TOKENS, "policy": "3 OF (Org1, Org2)"}, "contract policy"),
        ("contract", {**TOKENS, "name": "_gov"}, "reserved for system contracts"),
        ("add_org", {"id": "Org4", "root_key": "zz", "name": "Org4"}, "hex"),
        ("add_org", {"id": "Org4", "root_key": "ab" * 16, "name": "Org4"}, "32-byte"),
        ("revoke_member", {"org": "Org2", "serial": "four"}, "non-negative integer"),
    ],
)
def test_a_malformed_change_is_refused_and_changes_nothing(
    consortium: ConsortiumConfig, kind: str, change: dict[str, str], reason: str
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            before = await world(net)
            with pytest.raises(InvalidInput, match=reason):
                await net.gateway("Org1", "admin").submit("_gov", "propose", [kind, change])
            assert await world(net) == before

    asyncio.run(scenario())


def test_a_change_must_be_a_map_of_strings(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            admin = net.gateway("Org1", "admin")
            with pytest.raises(InvalidInput, match="argument 'change'"):
                await admin.submit(
                    "_gov", "propose", ["revoke_member", {"org": "Org2", "serial": 4}]
                )

    asyncio.run(scenario())


def test_a_revoked_member_can_no_longer_transact(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"b1": 50, "b2": 0}, owner="Org2")
            member = net.gateway("Org2")  # Org2.client0, serial 4
            assert member.identity.cert.serial == 4
            pending_id, pending = await endorsed(member, "tokens", "transfer", ["b1", "b2", 5])

            proposal_id = await propose(
                net, "Org1", "revoke_member", {"org": "Org2", "serial": "4"}
            )
            assert (await approve(net, "Org3", proposal_id))["status"] == "applied"
            before = await world(net)

            with pytest.raises(MembershipError, match="is revoked"):
                await member.submit("tokens", "transfer", ["b1", "b2", 5])
            # Endorsed while still a member, ordered after the revocation: refused at validation.
            await order(net, pending)
            assert codes_of(net, pending_id) == [Code.CREATOR_NOT_MEMBER]
            assert await world(net) == before
            assert await balances(net, ["b1", "b2"]) == [50, 0]

            # The rest of Org2 is unaffected.
            await net.gateway("Org2", "admin").submit("tokens", "transfer", ["b1", "b2", 5])
            assert await balances(net, ["b1", "b2"]) == [45, 5]
            await assert_consistent(net)

    asyncio.run(scenario())


def test_a_revocation_applies_from_the_block_after_it_commits(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"b1": 50, "b2": 0, "b3": 10, "b4": 0}, owner="Org2")
            member = net.gateway("Org2")
            proposal_id = await propose(
                net, "Org1", "revoke_member", {"org": "Org2", "serial": "4"}
            )
            approval_id, approval = await endorsed(
                net.gateway("Org3", "admin"), "_gov", "approve", [proposal_id]
            )
            same_block_id, same_block = await endorsed(
                member, "tokens", "transfer", ["b1", "b2", 1]
            )
            next_block_id, next_block = await endorsed(
                member, "tokens", "transfer", ["b3", "b4", 1]
            )
            await order(net, approval, same_block)
            await order(net, next_block)
            assert codes_of(net, approval_id) == [Code.VALID]
            assert codes_of(net, same_block_id) == [Code.VALID]
            assert codes_of(net, next_block_id) == [Code.CREATOR_NOT_MEMBER]
            assert await balances(net, ["b1", "b2", "b3", "b4"]) == [49, 1, 10, 0]

    asyncio.run(scenario())


def signed_by(config: ConsortiumConfig, org: str, response: bytes) -> Endorsement:
    """An endorsement of ``response`` by ``org``'s peer0, made without asking the peer."""
    peer = config.member(org, "peer0")
    return Endorsement(peer.identity, peer.sign(response))


def test_an_endorsement_by_a_revoked_peer_does_not_count(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 50, "a2": 0})
            proposal_id = await propose(
                net, "Org1", "revoke_member", {"org": "Org2", "serial": "1"}
            )
            await approve(net, "Org3", proposal_id)
            client = net.gateway("Org1")
            proposal, signature = client.proposal("tokens", "transfer", ["a1", "a2", 5])
            response, by_org1 = net.peers["Org1"].endorse(proposal, signature)
            with pytest.raises(EndorserUnavailable, match="revoked"):
                net.peers["Org2"].endorse(proposal, signature)
            # A stale or dishonest peer signs anyway: validation must not count it.
            by_org2 = signed_by(consortium, "Org2", response)
            revoked = Envelope(proposal, signature, response, [by_org1, by_org2])
            await order(net, revoked)
            assert codes_of(net, tx_id_of(proposal)) == [Code.ENDORSEMENT_POLICY_FAILURE]
            assert await balances(net, ["a1", "a2"]) == [50, 0]

            proposal, signature = client.proposal("tokens", "transfer", ["a1", "a2", 5])
            response, by_org1 = net.peers["Org1"].endorse(proposal, signature)
            by_org3 = net.peers["Org3"].endorse(proposal, signature)[1]
            await order(net, Envelope(proposal, signature, response, [by_org1, by_org3]))
            assert codes_of(net, tx_id_of(proposal)) == [Code.VALID]
            assert await balances(net, ["a1", "a2"]) == [45, 5]

    asyncio.run(scenario())


def test_majority_follows_the_organisations_in_the_consortium(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            root = SigningKey.generate()
            org4 = {"id": "Org4", "root_key": root.public.raw.hex(), "name": "Org4"}
            await approve(net, "Org2", await propose(net, "Org1", "add_org", org4))
            client = net.gateway("Org1")
            assert await client.evaluate("_gov", "organisations", []) == [
                "Org1",
                "Org2",
                "Org3",
                "Org4",
            ]
            # Four organisations: two approvals are no longer a majority, three are.
            proposal_id = await propose(net, "Org1", "contract", TOKENS)
            assert (await approve(net, "Org2", proposal_id))["status"] == "open"
            assert (await approve(net, "Org3", proposal_id))["status"] == "applied"

            # A member certified by Org4's root is now a member.
            newcomer = enrol(root, "Org4", "client0", Role.CLIENT, serial=4, issued_at=0)
            org4_client = Gateway(newcomer, client.peer, client.endorsers, client.ordering)
            await org4_client.submit("tokens", "open", ["d1"])
            value, _version = (await world(net))["tokens"]["acct/d1"]
            assert decode_value(value, Account) == Account("Org4", 0)
            await assert_consistent(net)

    asyncio.run(scenario())


def test_a_removed_organisation_can_no_longer_transact(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await approve(net, "Org2", await propose(net, "Org1", "remove_org", {"id": "Org3"}))
            with pytest.raises(MembershipError, match="not a consortium member"):
                await net.gateway("Org3").submit("tokens", "open", ["c1"])
            assert "acct/c1" not in (await world(net))["tokens"]
            # Endorsements by Org3's peer no longer count either.
            client = net.gateway("Org1")
            proposal, signature = client.proposal("tokens", "open", ["a1"])
            response, by_org1 = net.peers["Org1"].endorse(proposal, signature)
            with pytest.raises(EndorserUnavailable, match="not a consortium member"):
                net.peers["Org3"].endorse(proposal, signature)
            by_org3 = signed_by(consortium, "Org3", response)
            await order(net, Envelope(proposal, signature, response, [by_org1, by_org3]))
            assert codes_of(net, tx_id_of(proposal)) == [Code.ENDORSEMENT_POLICY_FAILURE]
            await client.submit("tokens", "open", ["a1"])  # Org1 + Org2 still satisfy the policy

    asyncio.run(scenario())
