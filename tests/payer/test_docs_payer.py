"""Every payer route is in docs/api.md and in the node's OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

from careledger.payer.directory.desk import DirectoryDesk
from careledger.payer.directory.plan_net import DirectoryReader
from careledger.payer.routes import add_payer_routes

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text()


class _Gateway:
    class identity:  # stands for a LocalIdentity
        org = "Org2"


def test_every_payer_route_is_documented() -> None:
    app = FastAPI()
    pas = type("Pas", (), {"gateway": _Gateway(), "org": "Org2"})()
    reader = DirectoryReader(lambda *_a: None, None)  # type: ignore[arg-type,return-value]
    desk = DirectoryDesk(_Gateway(), None)  # type: ignore[arg-type]
    add_payer_routes(app, pas, None, (reader, desk))
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 30
    spec = app.openapi()
    for route in routes:
        for method in route.methods:
            assert method.lower() in spec["paths"][route.path]
            assert f"`{method} {route.path}`" in DOC, f"{method} {route.path} not in docs/api.md"
