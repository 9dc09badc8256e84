"""Batched endorsement: many proposals in one signed request, refused per proposal with a reason.

The transport here is an in-process call (the NATS transport is tested in tests/api); what is
checked is what an endorsing node answers and what a gateway using batches commits.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from careledger.crypto import encoding
from careledger.errors import CryptoError, EndorserUnavailable, InvalidInput, MembershipError
from careledger.identity.msp import Role
from careledger.ledger.codes import ValidationCode
from careledger.node.consortium import ConsortiumConfig
from careledger.node.endorse_batch import (
    MAX_BATCH_PROPOSALS,
    STALLED_SECONDS,
    BatchEndorsing,
    BatchingEndorser,
    BatchReply,
    NoEndorser,
    SignedProposal,
    decode_reply,
    encode_request,
)
from careledger.node.gateway import Endorser, Gateway, LocalEndorser
from careledger.node.network import EmbeddedNetwork
from tests.harness import impostor, running, settle


def _proposals(net: EmbeddedNetwork, n: int, org: str = "Org1") -> list[SignedProposal]:
    gateway = net.gateway(org, "admin")
    names = [f"acct-{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(n)]
    return [SignedProposal(*gateway.proposal("tokens", "mint", [name, 1])) for name in names]


def _ask(handler: BatchEndorsing, net: EmbeddedNetwork, items: list[SignedProposal]) -> BatchReply:
    return decode_reply(handler.handle(encode_request(net.config.member("Org1", "peer0"), items)))


def test_a_batch_is_endorsed_proposal_by_proposal(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium) as net:
            handler = BatchEndorsing(net.peers["Org2"])
            items = _proposals(net, 5)
            reply = _ask(handler, net, items)
            assert reply.refused is None
            assert [o.kind for o in reply.items] == [None] * 5
            single = net.peers["Org3"].endorse(items[0].proposal, items[0].signature)
            # The same simulation as a single endorsement (same response bytes).
            assert reply.items[0].response == single[0]

    asyncio.run(main())


def test_forged_proposals_are_refused_and_the_rest_endorsed(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium) as net:
            handler = BatchEndorsing(net.peers["Org2"])
            good = _proposals(net, 3)
            forged = SignedProposal(good[1].proposal, bytes(64))  # not the creator's signature
            stranger = net.gateway("Org1", "admin")
            stranger.identity = impostor("Org1", "admin", Role.ADMIN)
            foreign = SignedProposal(*stranger.proposal("tokens", "mint", ["acct-x", 1]))
            reply = _ask(handler, net, [good[0], forged, foreign, good[2]])
            kinds = [o.kind for o in reply.items]
            assert kinds == [None, CryptoError.__name__, MembershipError.__name__, None]
            assert "signature" in (reply.items[1].error or "")

    asyncio.run(main())


def test_replayed_batches_and_duplicate_proposals(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium) as net:
            handler = BatchEndorsing(net.peers["Org2"])
            items = _proposals(net, 2)
            request = encode_request(net.config.member("Org1", "peer0"), items)
            first = decode_reply(handler.handle(request))
            assert [o.kind for o in first.items] == [None, None]
            # The very same request again: every proposal refused as a replay.
            again = decode_reply(handler.handle(request))
            assert [o.kind for o in again.items] == [InvalidInput.__name__] * 2
            assert all("replayed batch" in (o.error or "") for o in again.items)
            # A new batch asking again for an endorsed proposal (a gateway retrying after another
            # endorser failed) gets the same endorsement; a proposal twice in one batch does not.
            fresh = _proposals(net, 1)[0]
            reply = _ask(handler, net, [items[0], fresh, fresh])
            assert [o.kind for o in reply.items] == [None, None, InvalidInput.__name__]
            assert reply.items[0].response == first.items[0].response
            assert "twice" in (reply.items[2].error or "")

    asyncio.run(main())


def test_malformed_oversized_stale_and_foreign_batches(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium) as net:
            handler = BatchEndorsing(net.peers["Org2"])
            assert "malformed" in (decode_reply(handler.handle(b"\xff\x00junk")).refused or "")
            assert decode_reply(handler.handle(encoding.encode({"body": 1}))).refused
            one = _proposals(net, 1)[0]
            reply = _ask(handler, net, [one] * (MAX_BATCH_PROPOSALS + 1))
            assert len(reply.items) == MAX_BATCH_PROPOSALS + 1
            assert all("over the limit" in (o.error or "") for o in reply.items)
            # Signed by someone who is not a member: nothing endorsed.
            outsider = impostor("Org1", "peer0", Role.PEER)
            raw = handler.handle(encode_request(outsider, [one]))
            assert decode_reply(raw).items[0].kind == MembershipError.__name__
            # Sent long ago (outside the replay window): refused as a replay.
            old = BatchEndorsing(net.peers["Org3"], window=0.0)
            request = encode_request(net.config.member("Org1", "peer0"), [one])
            time.sleep(0.01)
            assert "replayed" in (decode_reply(old.handle(request)).items[0].error or "")
            # A bad batch signature (body altered after signing).
            peer = net.config.member("Org1", "peer0")
            body = encoding.decode(encode_request(peer, [one]))["body"]
            tampered = encoding.encode({"body": body, "signature": bytes(64)})
            assert decode_reply(handler.handle(tampered)).items[0].kind == CryptoError.__name__
            # Nothing above was endorsed: the proposal is still endorsable.
            assert _ask(handler, net, [one]).items[0].kind is None

    asyncio.run(main())


def _batching_gateway(net: EmbeddedNetwork, org: str) -> tuple[Gateway, list[BatchingEndorser]]:
    peer_id = net.config.member(org, "peer0")
    endorsers: dict[str, Endorser] = {org: LocalEndorser(net.peers[org])}
    batching = []
    for other, peer in net.peers.items():
        if other == org:
            continue
        handler = BatchEndorsing(peer)

        async def send(data: bytes, handler: BatchEndorsing = handler) -> bytes:
            await asyncio.sleep(0)  # a transport yields
            return handler.handle(data)

        endorser = BatchingEndorser(other, peer_id, send, max_inflight=1)
        endorsers[other] = endorser
        batching.append(endorser)
    base = net.gateway(org)
    return Gateway(base.identity, base.peer, endorsers, base.ordering), batching


def test_a_gateway_commits_through_batches(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium) as net:
            gateway, batching = _batching_gateway(net, "Org1")
            admin = net.gateway("Org1", "admin")
            await admin.submit("tokens", "mint", ["acct-src", 1_000])
            await settle(net)
            results = await asyncio.gather(
                *(
                    gateway.submit("tokens", "open", [f"acct-{chr(97 + i)}{chr(97 + i)}"])
                    for i in range(20)
                )
            )
            assert {r.code for r in results} == {ValidationCode.VALID}
            asked = [b for b in batching if b.requests]
            # Concurrent proposals shared requests.
            assert sum(b.proposals for b in asked) == 20
            assert sum(b.requests for b in asked) < 20
            await settle(net)
            roots = {p.state.state_root() for p in net.peers.values()}
            assert len(roots) == 1

    asyncio.run(main())


def test_an_unreachable_transport_makes_the_endorser_unavailable(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with running(consortium) as net:

            async def down(_data: bytes) -> bytes:
                raise TimeoutError("no reply")

            peer_id = net.config.member("Org1", "peer0")
            base = net.gateway("Org1")
            endorsers: dict[str, Endorser] = {
                "Org1": LocalEndorser(net.peers["Org1"]),
                "Org2": BatchingEndorser("Org2", peer_id, down),
                "Org3": LocalEndorser(net.peers["Org3"]),
            }
            gateway = Gateway(base.identity, base.peer, endorsers, base.ordering)
            # Org2 fails: the gateway asks Org3 instead and the transaction commits.
            for name in ("acct-una", "acct-unb", "acct-unc"):
                result = await gateway.submit("tokens", "open", [name])
                assert result.code is ValidationCode.VALID

    asyncio.run(main())


def test_requests_to_a_node_that_died_fail_at_once_when_nobody_answers(
    consortium: ConsortiumConfig,
) -> None:
    """Requests in flight to a node killed while answering are never answered; proposals must
    not wait behind them for the transport's timeout. Once a later request finds nobody
    listening (NATS: no responders), every one of them is refused as unavailable."""

    async def main() -> None:
        async with running(consortium) as net:
            killed = asyncio.Event()
            calls = 0

            async def send(_data: bytes) -> bytes:
                nonlocal calls
                calls += 1
                if not killed.is_set():
                    await asyncio.sleep(3600)  # delivered to the node, which then died
                raise NoEndorser("no responders")

            endorser = BatchingEndorser("Org2", net.config.member("Org1", "peer0"), send)
            proposals = _proposals(net, 4)
            started = time.monotonic()
            asks = [
                asyncio.ensure_future(endorser.endorse(p.proposal, p.signature))
                for p in proposals[:3]
            ]
            await asyncio.sleep(0.05)
            assert calls == 2, "two requests in flight, the third proposal queued"
            killed.set()
            # Queued behind stalled requests, the third goes out after STALLED_SECONDS, finds
            # nobody, and all three are refused: no 10 s wait.
            outcomes = await asyncio.wait_for(
                asyncio.gather(*asks, return_exceptions=True), STALLED_SECONDS * 10
            )
            assert all(isinstance(o, EndorserUnavailable) for o in outcomes), outcomes
            assert time.monotonic() - started < STALLED_SECONDS * 10
            await endorser.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["ContractError", "PhiRejected"])
def test_contract_refusals_keep_their_meaning(consortium: ConsortiumConfig, kind: str) -> None:
    from careledger.errors import ContractError
    from careledger.node.endorse_batch import Outcome, outcome_error

    error = outcome_error("Org2", Outcome(kind=kind, error="no such account"))
    assert isinstance(error, ContractError)
    assert "Org2" in str(error)
