"""The OpenAPI document lists every route, and docs/api.md documents every route."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi.routing import APIRoute

from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import asgi_node, cluster

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_every_route_is_in_openapi_and_in_docs_api(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with asgi_node(consortium) as (_net, app, _client):
            routes = [r for r in app.app.routes if isinstance(r, APIRoute)]
            assert len(routes) >= 8
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://n") as raw:
                spec = (await raw.get("/openapi.json")).json()
            for route in routes:
                for method in route.methods:
                    assert method.lower() in spec["paths"][route.path], (method, route.path)
                    assert f"`{method} {route.path}`" in DOC, (
                        f"{method} {route.path} is not documented in docs/api.md"
                    )

    asyncio.run(main())


def test_openapi_is_served_on_a_real_socket(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with cluster(consortium, orgs=("Org1",), contracts=()) as c:
            async with httpx.AsyncClient() as raw:
                reply = await raw.get(f"{c.nodes['Org1'].url}/openapi.json")
            assert reply.status_code == 200
            assert "/v1/submit" in reply.json()["paths"]

    asyncio.run(main())
