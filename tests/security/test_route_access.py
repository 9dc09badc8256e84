"""Every HTTP route declares who may call it, and a running node holds every route to its rule.

The walk reads the OpenAPI documents a real node serves (uvicorn on 127.0.0.1: the node API, its
FHIR API at ``/fhir``) and a real wallet server, fails on any route without a declared rule, and
calls every route as the node's own member, an anonymous caller, a member of another
organisation and a revoked member of the node's own organisation (docs/security.md).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from careledger.access import (
    Rule,
    UndeclaredAccess,
    access,
    require_rules,
    rules_of,
    undeclared,
)
from careledger.api.server import ApiServer
from careledger.api.wallet_app import HOLDER_KEY, create_wallet_app, new_token
from careledger.credentials.wallet import Wallet
from careledger.daemon.config import FhirSettings, NodeConfig
from careledger.identity.msp import LocalIdentity, Role, enrol
from careledger.node.consortium import ConsortiumConfig
from careledger.sim.demo_fhir import CONTRACT_POLICY, CONTRACTS
from tests.api.nodes import Cluster, asgi_node, cluster
from tests.security.callers import (
    Caller,
    Route,
    another_token,
    concrete,
    expected,
    fhir_body,
    holds,
    outsider,
    proposal_body,
    signed_headers,
    wallet_headers,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
KEY_ENV = "CARELEDGER_TEST_AUTHZ_MASTER_KEY"
REVOKED_SERIAL = 99
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
WALKED_MOUNTS = {"/fhir", "/ui"}
SRC = Path(__file__).resolve().parents[2] / "src" / "careledger"


@asynccontextmanager
async def wallet_server(directory: Path) -> AsyncIterator[tuple[str, str]]:
    """A wallet API on 127.0.0.1 (url, token)."""
    wallet = Wallet.create(directory / "wallet.json", "walk passphrase", scrypt_n=2**12)
    wallet.new_key(HOLDER_KEY)
    wallet.save()
    token = new_token()
    server = ApiServer(create_wallet_app(wallet, token), "127.0.0.1", 0)
    await server.start()
    try:
        yield server.url, token
    finally:
        await server.stop()


async def revoked_member(c: Cluster, consortium: ConsortiumConfig, http: httpx.AsyncClient) -> Any:
    """A new Org1 member, shown to work, then revoked by governance (Org1 and Org2 admins)."""
    root = consortium.root_key("Org1")
    member = enrol(root, "Org1", "walker", Role.CLIENT, REVOKED_SERIAL, int(time.time() * 1000))
    assert (await _get(http, member, "/v1/state")).status_code == 200
    change = {"org": "Org1", "serial": str(REVOKED_SERIAL)}
    org1, org2 = await c.client("Org1", "admin"), await c.client("Org2", "admin")
    motion = await org1.submit("_gov", "propose", ["revoke_member", change])
    approved = await org2.submit("_gov", "approve", [motion.result["id"]])
    assert approved.result["status"] == "applied"
    async with asyncio.timeout(15):
        while (await _get(http, member, "/v1/state")).status_code != 401:
            await asyncio.sleep(0.05)
    return member


async def _get(http: httpx.AsyncClient, who: LocalIdentity | None, target: str) -> httpx.Response:
    return await http.get(target, headers=signed_headers(who, "GET", target, b""))


def _mounted_app(path: str, app: Any) -> Any:
    """The FastAPI application mounted at ``path`` (under its middleware wrappers)."""
    found = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == path)
    while not hasattr(found, "openapi"):
        found = found.app
    return found


def _routes(api: str, doc: dict[str, Any], prefix: str = "") -> list[Route]:
    return [
        Route(api, method, prefix + path, rule)
        for (method, path), rule in sorted(rules_of(doc).items(), key=lambda kv: kv[0][::-1])
    ]


@dataclasses.dataclass
class Walk:
    node: httpx.AsyncClient
    wallet: httpx.AsyncClient
    token: str
    identities: dict[Caller, LocalIdentity | None]
    params: dict[str, str]

    async def status(self, route: Route, caller: Caller) -> int:
        target = concrete(route, self.params)
        if route.api == "wallet":
            token = {Caller.OWN: self.token, Caller.ANONYMOUS: None}.get(caller, another_token())
            reply = await self.wallet.request(route.method, target, headers=wallet_headers(token))
            return reply.status_code
        who = self.identities[caller]
        headers: dict[str, str] = {}
        if route.rule is Rule.SIGNED_PROPOSAL:  # the caller is the proposal's creator
            body = proposal_body(who or outsider(), route.path)
            headers["content-type"] = "application/json"
        else:
            body, media = fhir_body(route) if route.api == "fhir" else (b"", "")
            headers |= {"content-type": media} if media else {}
            headers |= signed_headers(who, route.method, target, body)
        request = self.node.build_request(route.method, target, content=body, headers=headers)
        reply = await self.node.send(request, stream=True)  # /v1/events answers a stream
        await reply.aclose()
        return reply.status_code


def test_every_route_declares_a_rule_and_every_caller_gets_what_it_allows(
    consortium: ConsortiumConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))

    def with_fhir(org: str, config: NodeConfig) -> NodeConfig:
        fhir = FhirSettings(enabled=True, master_key_env=KEY_ENV)
        return dataclasses.replace(config, fhir=fhir) if org == "Org1" else config

    async def main() -> None:
        async with (
            cluster(
                consortium,
                orgs=("Org1", "Org2"),
                contracts=CONTRACTS,
                policy=CONTRACT_POLICY,
                configure=with_fhir,
            ) as c,
            wallet_server(tmp_path) as (wallet_url, token),
            httpx.AsyncClient(base_url=c.nodes["Org1"].url, timeout=30) as node,
            httpx.AsyncClient(base_url=wallet_url, timeout=30) as wallet,
        ):
            own = consortium.member("Org1", "client0")
            revoked = await revoked_member(c, consortium, node)
            body = msgspec.json.encode({"resourceType": "Patient", "active": True})
            made = await node.post(
                "/fhir/Patient",
                content=body,
                headers={
                    "content-type": "application/fhir+json",
                    **signed_headers(own, "POST", "/fhir/Patient", body),
                },
            )
            assert made.status_code == 201, made.text

            node_doc = (await node.get("/openapi.json")).json()
            fhir_doc = (await _get(node, own, "/fhir/openapi.json")).json()
            wallet_doc = (await wallet.get("/openapi.json", headers=wallet_headers(token))).json()
            served = c.nodes["Org1"].app
            assert served is not None
            ui_doc = _mounted_app("/ui", served.app).openapi()  # the UI serves no OpenAPI
            routes = (
                _routes("node", node_doc)
                + _routes("fhir", fhir_doc, "/fhir")
                + _routes("wallet", wallet_doc)
                + _routes("ui", ui_doc, "/ui")
            )
            assert [f"{r.method} {r.path}" for r in routes if r.rule is None] == []
            mounts = {r.path for r in served.app.routes if isinstance(r, Mount)}  # type: ignore[attr-defined]
            assert mounts == WALKED_MOUNTS, (
                "a new mounted API: add its OpenAPI document to the walk"
            )

            walk = Walk(
                node,
                wallet,
                token,
                {
                    Caller.OWN: own,
                    Caller.ANONYMOUS: None,
                    Caller.OTHER_ORG: consortium.member("Org2", "client0"),
                    Caller.REVOKED: revoked,
                    Caller.OWN_SERVER_KEY: consortium.member("Org1", "orderer0"),
                },
                {
                    "number": "0",
                    "tx_id": "0" * 64,
                    "resource_type": "Patient",
                    "resource_id": made.json()["id"],
                    "version": "1",
                    "credential_id": "urn:uuid:00000000-0000-0000-0000-000000000000",
                    "file": "sha256-0000.jsonld",
                    "org": "Org1",
                    "name": "walk-list",
                    "campaign": "walk-campaign",
                    "entry_id": "walk-entry",
                    "correction": "ab" * 32,
                    "claim_key": "ab" * 32,
                    "npi": "1234567893",
                    "date": "2026-03-20",
                    "pseudonym": "ab" * 32,
                    "ref": "ab" * 12,
                },
            )
            failures: list[str] = []
            calls = 0
            for route in routes:
                assert route.rule is not None
                seen: list[str] = []
                for caller in Caller:
                    status = await walk.status(route, caller)
                    seen.append(f"{caller.name.lower()} {status}")
                    calls += 1
                    want = expected(route.rule, caller, route.method, route.path)
                    if not holds(want, status):
                        failures.append(
                            f"{route.method} {route.path} ({route.rule}) as {caller}: "
                            f"{status}, expected {want.value}"
                        )
                print(f"{route.method} {route.path} [{route.rule}]: {', '.join(seen)}")
            print(
                f"\nroute access walk: {len(routes)} routes "
                f"({sum(r.api == 'node' for r in routes)} node, "
                f"{sum(r.api == 'fhir' for r in routes)} FHIR, "
                f"{sum(r.api == 'wallet' for r in routes)} wallet, "
                f"{sum(r.api == 'ui' for r in routes)} web UI), "
                f"{len(Caller)} callers each, {calls} calls, {len(failures)} failures"
            )
            assert failures == []
            documented = documented_rules()
            drift = [
                f"{r.method} {r.path}: {r.rule}"
                for r in routes
                if documented.get((r.method, r.path)) != r.rule
            ]
            assert drift == [], "docs/security.md does not list these routes with their rules"

    asyncio.run(main())


def test_a_route_without_a_rule_is_refused_when_the_app_is_built() -> None:
    app = FastAPI(title="A later API")

    @app.get("/v1/declared", openapi_extra=access(Rule.MEMBER))
    async def declared() -> dict[str, str]:
        return {}

    require_rules(app)

    @app.get("/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(UndeclaredAccess, match="GET /v1/forgotten"):
        require_rules(app)


def test_hidden_and_plain_routes_need_a_rule_too() -> None:
    app = FastAPI(title="A later UI", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/ui/page", include_in_schema=False)
    async def page() -> dict[str, str]:
        return {}

    async def plain(_request: Any) -> Any:
        return None

    app.add_route("/ui/plain", plain, methods=["POST"])
    assert undeclared(app) == ["GET /ui/page", "POST /ui/plain"]

    @app.get("/ui/declared", include_in_schema=False, openapi_extra=access(Rule.OWN_ORG))
    async def declared() -> dict[str, str]:
        return {}

    assert "GET /ui/declared" not in undeclared(app)


def test_every_fastapi_app_in_src_refuses_undeclared_routes() -> None:
    """A module that builds a FastAPI application (node, FHIR, wallet; payer, incentives and the
    web UI when they land) also calls require_rules on it."""
    unchecked = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bFastAPI\(", text) and "require_rules(" not in text:
            unchecked.append(str(path.relative_to(SRC)))
    assert unchecked == []


def test_the_node_app_has_no_route_outside_openapi_but_the_framework_s(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (_net, app, _client):
            others = {r.path for r in app.app.routes if not isinstance(r, APIRoute)}  # type: ignore[attr-defined]
            assert others == FRAMEWORK_ROUTES

    asyncio.run(main())


_ROW = re.compile(r"^\| `(GET|POST|PUT|DELETE) ([^`]+)` \| `([a-z-]+)` \|", re.MULTILINE)


def documented_rules() -> dict[tuple[str, str], str]:
    """``(METHOD, path) -> rule`` from the table in docs/security.md."""
    return {(m, p): r for m, p, r in _ROW.findall(DOC)}
