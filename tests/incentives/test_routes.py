"""The node API's incentive routes over httpx's in-memory ASGI transport: reads with the
requester's rights, dry runs, redemption signed by the wallet, awards through a node awarder,
refusals as results and bad input as clean 4xx with nothing written."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from careledger.api.app import create_app
from careledger.api.auth import sign_request
from careledger.api.codec import b64e
from careledger.api.service import NodeService
from careledger.daemon.config import (
    IncentivesSettings,
    NodeConfig,
    load_node_config,
    save_node_config,
)
from careledger.daemon.incentives_side import open_incentives
from careledger.errors import InvalidInput
from careledger.identity.did.keys import Ed25519Signer
from careledger.identity.msp import LocalIdentity
from careledger.incentives.routes import add_incentive_routes
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import flu_spec
from careledger.incentives.wallet import MemberWallet
from tests.harness import world
from tests.incentives.world import AUDITOR, CLINIC, SPONSOR, incentive_world

CAMPAIGN = "flu-api"


class Signed:
    """Signed requests to one ASGI app as one member."""

    def __init__(self, app: Any, identity: LocalIdentity) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")
        self.identity = identity

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = b"" if body is None else json.dumps(body).encode()
        headers = sign_request(self.identity, method, path, content)
        if body is not None:
            headers["content-type"] = "application/json"
        return await self.http.request(method, path, content=content, headers=headers)


def test_incentive_routes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            net = cast.net
            await create_campaign(net.gateway(SPONSOR, "admin"), flu_spec(CAMPAIGN, None))
            service = NodeService(net.peers[SPONSOR], net.gateway(SPONSOR))
            plain = create_app(service)  # every node: reads, dry runs, redemption
            awarding = create_app(service)  # a sponsor node that runs an awarder
            for app in (plain, awarding):
                add_incentive_routes(app, service)
            awarding.app.state.incentive_awarder = cast.awarder  # type: ignore[attr-defined]
            payer = Signed(awarding, net.config.member(SPONSOR, "client0"))
            clinic = Signed(plain, net.config.member(CLINIC, "client0"))
            lab = Signed(plain, net.config.member(AUDITOR, "client0"))
            base = f"/v1/incentives/campaigns/{CAMPAIGN}"
            try:
                assert (await clinic.call("GET", "/v1/incentives/campaigns")).json() == [CAMPAIGN]
                info = (await clinic.call("GET", base)).json()
                assert info["transferable"] is False
                assert (await clinic.http.get(base)).status_code == 401  # unsigned

                patient, wallet = Ed25519Signer(), MemberWallet()
                shot, _ = cast.immunization(patient)
                proof = wallet.holder_proof(patient, CAMPAIGN, "flu-shot")
                body = {
                    "rule": "flu-shot",
                    "member_key": wallet.member_key(CAMPAIGN),
                    "credential": shot,
                    "holder": {
                        "verification_method": proof.verification_method,
                        "signature": b64e(proof.signature),
                    },
                }
                before = await world(net, ("incentives",))
                dry = await payer.call("POST", f"{base}/awards", {**body, "dry_run": True})
                assert dry.json()["status"] == "awarded"
                assert await world(net, ("incentives",)) == before
                # a node that runs no awarder: 404 for its own members, 403 for others
                own_plain = Signed(plain, net.config.member(SPONSOR, "client0"))
                assert (await own_plain.call("POST", f"{base}/awards", body)).status_code == 404
                assert (await clinic.call("POST", f"{base}/awards", body)).status_code == 403
                outsider = Signed(awarding, net.config.member(CLINIC, "client0"))
                assert (await outsider.call("POST", f"{base}/awards", body)).status_code == 403
                bad = await payer.call("POST", f"{base}/awards", {**body, "points": -1})
                assert bad.status_code == 400
                assert await world(net, ("incentives",)) == before

                first = (await payer.call("POST", f"{base}/awards", body)).json()
                assert (first["status"], first["points"]) == ("awarded", 1_000)
                again = (await payer.call("POST", f"{base}/awards", body)).json()
                assert (again["status"], again["code"]) == ("rejected", "evidence_replayed")

                pseudonym = wallet.pseudonym(CAMPAIGN)
                acct = (await clinic.call("GET", f"{base}/accounts/{pseudonym}")).json()
                assert (acct["balance"], acct["transferable"]) == (1_000, False)
                check = {"pseudonym": pseudonym, "item": "step-counter", "quantity": 1}
                at = int(time.time() * 1000)
                dry_redeem = await clinic.call("POST", f"{base}/redeem/check", {**check, "at": at})
                assert dry_redeem.json()["code"] == "insufficient_balance"
                signature = wallet.sign_redemption(CAMPAIGN, "water-bottle", 1, 0)
                spend = {"pseudonym": pseudonym, "item": "water-bottle", "quantity": 1}
                spent = await clinic.call(
                    "POST", f"{base}/redeem", {**spend, "signature": b64e(signature)}
                )
                assert spent.json()["status"] == "redeemed"
                replayed = await clinic.call(
                    "POST", f"{base}/redeem", {**spend, "signature": b64e(signature)}
                )
                assert replayed.status_code == 422  # the signature was for redemption #0
                history = (await clinic.call("GET", f"{base}/accounts/{pseudonym}/history")).json()
                assert [h["balance"] for h in history] == [1_000, 500]
                report = (await lab.call("GET", f"{base}/report")).json()
                assert (report["awarded"], report["redeemed"], report["members"]) == (
                    1000,
                    500,
                    None,
                )
                assert (await clinic.call("GET", f"{base}/awards")).status_code == 422
                assert len((await payer.call("GET", f"{base}/awards")).json()) == 1
                assert (
                    await clinic.call("GET", "/v1/incentives/campaigns/nope")
                ).status_code == 422
                assert (
                    await clinic.call("GET", "/v1/incentives/campaigns/NOPE")
                ).status_code == 400
            finally:
                for client in (payer, clinic, lab):
                    await client.http.aclose()
                service.close()

    asyncio.run(scenario())


DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_every_incentive_route_is_in_openapi_and_in_docs_api(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            service = NodeService(cast.net.peers[SPONSOR], cast.net.gateway(SPONSOR))
            app = create_app(service)
            add_incentive_routes(app, service)
            routes = [
                r
                for r in app.app.routes  # type: ignore[attr-defined]
                if isinstance(r, APIRoute) and r.path.startswith("/v1/incentives")
            ]
            assert len(routes) == 10
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://n") as raw:
                spec = (await raw.get("/openapi.json")).json()
            for route in routes:
                for method in route.methods:
                    assert method.lower() in spec["paths"][route.path]
                    assert f"`{method} {route.path}`" in DOC, f"{method} {route.path}"
            service.close()

    asyncio.run(scenario())


def test_a_node_awards_with_the_incentives_settings(tmp_path: Path) -> None:
    """``[incentives] awarder = true``: the node opens its awarder from its settings (evidence
    secret file created 0600) and awards through the route; the settings round-trip."""
    secret = tmp_path / "keys" / "evidence.secret"

    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            net = cast.net
            await create_campaign(net.gateway(SPONSOR, "admin"), flu_spec(CAMPAIGN, None))
            service = NodeService(net.peers[SPONSOR], net.gateway(SPONSOR))
            app = create_app(service)
            add_incentive_routes(app, service)
            settings = IncentivesSettings(awarder=True, evidence_secret_file=str(secret))
            identity = net.config.member(SPONSOR, "peer0")
            side = open_incentives(app.app, settings, net.gateway(SPONSOR), identity, tmp_path)
            assert side.awarder is not None
            assert side.cosigner is None
            assert secret.stat().st_mode & 0o077 == 0
            payer = Signed(app, net.config.member(SPONSOR, "client0"))
            patient, wallet = Ed25519Signer(), MemberWallet()
            shot, _ = cast.immunization(patient)
            proof = wallet.holder_proof(patient, CAMPAIGN, "flu-shot")
            body = {
                "rule": "flu-shot",
                "member_key": wallet.member_key(CAMPAIGN),
                "credential": shot,
                "holder": {
                    "verification_method": proof.verification_method,
                    "signature": b64e(proof.signature),
                },
            }
            path = f"/v1/incentives/campaigns/{CAMPAIGN}/awards"
            try:
                done = (await payer.call("POST", path, body)).json()
                assert (done["status"], done["points"]) == ("awarded", 1_000)
                server = Signed(app, net.config.member(SPONSOR, "orderer0"))
                assert (await server.call("POST", path, body)).status_code == 403
            finally:
                await side.close()
                await payer.http.aclose()
                await server.http.aclose()

    asyncio.run(scenario())

    config = NodeConfig(
        "Payer",
        tmp_path / "c",
        tmp_path / "data",
        incentives=IncentivesSettings(awarder=True, evidence_secret_file=str(secret)),
    ).validate()
    save_node_config(config, tmp_path / "node.toml")
    assert load_node_config(tmp_path / "node.toml").incentives == config.incentives
    bad = IncentivesSettings(cosigner=True, auditor_url="http://127.0.0.1:1")
    with pytest.raises(InvalidInput, match=r"incentives\.auditor_url"):
        NodeConfig("Payer", tmp_path / "c", tmp_path / "data", incentives=bad).validate()
