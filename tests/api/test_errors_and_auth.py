"""The node API refuses hostile and unauthenticated requests cleanly, and changes nothing.

Fast: the app runs over httpx's in-memory ASGI transport on an embedded network.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import pytest

from careledger.api.auth import MAX_SKEW_MS, sign_request
from careledger.api.client import NodeClient, sign_proposal
from careledger.api.codec import b64e
from careledger.api.errors import NotAuthenticated, NotFound
from careledger.errors import (
    ContractError,
    CryptoError,
    InvalidInput,
    MembershipError,
    UnknownContract,
)
from careledger.identity.msp import Role
from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import asgi_node
from tests.harness import impostor


def _raw(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")


def test_member_reads_and_health_is_open(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (net, app, client), client("Org2") as org2:
            state = await org2.state()
            assert state.org == "Org1"
            assert state.height == net.peers["Org1"].height()
            assert state.state_root == net.peers["Org1"].state.state_root().hex()
            async with _raw(app) as raw:
                health = await raw.get("/v1/health")
                assert health.status_code == 200
                assert health.json()["org"] == "Org1"

    asyncio.run(main())


def test_reads_refuse_missing_non_member_bad_signature_and_stale_requests(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (_net, app, client), _raw(app) as raw:
            unsigned = await raw.get("/v1/state")
            assert unsigned.status_code == 401
            assert unsigned.json()["type"] == "NotAuthenticated"

            outsider = impostor("Org1", "mallory", Role.CLIENT)
            alien = await raw.get("/v1/state", headers=sign_request(outsider, "GET", "/v1/state"))
            assert alien.status_code == 401
            assert "not a consortium member" in alien.json()["error"]

            member = consortium.member("Org2", "client0")
            headers = sign_request(member, "GET", "/v1/state")
            other = sign_request(member, "GET", "/v1/blocks/0")  # signature for another path
            forged = await raw.get(
                "/v1/state",
                headers=headers | {"X-CareLedger-Signature": other["X-CareLedger-Signature"]},
            )
            assert forged.status_code == 401
            assert "does not verify" in forged.json()["error"]

            stale_ts = int(time.time() * 1000) - MAX_SKEW_MS - 60_000
            stale = await raw.get(
                "/v1/state", headers=sign_request(member, "GET", "/v1/state", timestamp=stale_ts)
            )
            assert stale.status_code == 401
            assert "timestamp" in stale.json()["error"]

            garbage = await raw.get(
                "/v1/state", headers=headers | {"X-CareLedger-Identity": "!!not base64!!"}
            )
            assert garbage.status_code == 401

            async with client("Org2") as ok:
                assert (await ok.state()).org == "Org1"

    asyncio.run(main())


def test_proposal_routes_check_membership_and_signature(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (net, _app, client):
            height = net.peers["Org1"].height()
            async with NodeClient(
                "http://node",
                impostor("Org1", "mallory", Role.ADMIN),
                transport=httpx.ASGITransport(app=_app),
            ) as mallory:
                with pytest.raises(MembershipError, match="root"):
                    await mallory.submit("tokens", "mint", ["acct-x", 5], retries=0)
            admin = consortium.member("Org1", "admin")
            proposal, _sig = sign_proposal(admin, "tokens", "mint", ["acct-x", 5])
            async with client("Org1", "admin") as c:
                with pytest.raises(CryptoError):
                    await c.submit_signed(proposal, bytes(64))
                with pytest.raises(CryptoError):
                    await c.endorse(proposal, bytes(64))
            assert net.peers["Org1"].height() == height

    asyncio.run(main())


def test_malformed_and_oversized_bodies_get_clean_4xx_and_change_nothing(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with asgi_node(consortium, max_body_bytes=64 * 1024) as (net, app, _client):
            peer = net.peers["Org1"]
            before = (peer.height(), peer.state.state_root())
            garbage_cbor = b64e(b"\xff\x00garbage")
            cases: list[tuple[dict[str, Any], int]] = [
                ({"content": b"{not json"}, 400),
                ({"json": {"proposal": "a"}}, 400),
                ({"json": {"proposal": "***", "signature": "AA"}}, 400),
                ({"json": {"proposal": garbage_cbor, "signature": b64e(bytes(64))}}, 400),
                ({"json": {"proposal": "AA", "signature": "AA", "extra": 1}}, 400),
                ({"json": [1, 2, 3]}, 400),
                ({"content": b"x" * (64 * 1024 + 1)}, 413),
            ]
            async with _raw(app) as raw:
                for route in ("/v1/submit", "/v1/evaluate", "/v1/endorse"):
                    for kwargs, status in cases:
                        reply = await raw.post(route, **kwargs)
                        assert reply.status_code == status, (route, kwargs, reply.text)
                        body = reply.json()
                        assert set(body) >= {"error", "type"}
                        assert body["error"]
                padded = base64.urlsafe_b64encode(b"x" * 10).decode()
                reply = await raw.post("/v1/submit", json={"proposal": padded, "signature": "AA"})
                assert reply.status_code == 400
                assert (await raw.get("/v1/nowhere")).status_code == 404
                assert (await raw.delete("/v1/submit")).status_code == 405
            assert (peer.height(), peer.state.state_root()) == before

    asyncio.run(main())


def test_contract_outcomes_map_to_statuses(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with (
            asgi_node(consortium) as (_net, _app, client),
            client("Org1", "admin") as admin,
            client() as user,
        ):
            with pytest.raises(UnknownContract):
                await admin.submit("nothing", "mint", ["a", 1])
            with pytest.raises(ContractError, match="only an organisation admin"):
                await user.submit("tokens", "mint", ["acct-a", 5])
            with pytest.raises(InvalidInput, match="amount"):
                await admin.submit("tokens", "mint", ["acct-a", -5])
            minted = await admin.submit("tokens", "mint", ["acct-a", 5])
            assert minted.code == "VALID"
            assert minted.result == 5
            assert await user.evaluate("tokens", "balance", ["acct-a"]) == 5
            with pytest.raises(ContractError, match="unknown account"):
                await user.evaluate("tokens", "balance", ["nobody"])
            tx = await user.transaction(minted.tx_id)
            assert (tx.block, tx.code) == (minted.block, "VALID")
            block = await user.block(minted.block)
            assert [t.tx_id for t in block.transactions] == [minted.tx_id]
            with pytest.raises(NotFound):
                await user.transaction("0" * 64)
            with pytest.raises(NotFound):
                await user.block(10_000)
            with pytest.raises(InvalidInput):
                await user.transaction("not-a-tx-id")

    asyncio.run(main())


def test_a_signed_request_is_refused_by_not_authenticated_type(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with (
            asgi_node(consortium) as (_net, app, _client),
            NodeClient(
                "http://node",
                impostor("Org2", "eve", Role.CLIENT),
                transport=httpx.ASGITransport(app=app),
            ) as eve,
        ):
            with pytest.raises(NotAuthenticated):
                await eve.state()

    asyncio.run(main())
