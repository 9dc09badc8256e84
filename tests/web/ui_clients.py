"""An organisation's UI on an embedded network, over httpx's ASGI transport (no browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from careledger.node.network import EmbeddedNetwork
from careledger.web.app import mount_ui
from careledger.web.context import PayerBackend, UiContext
from careledger.web.demo import demo_context


@asynccontextmanager
async def ui_client(
    net: EmbeddedNetwork, org: str, payer: PayerBackend | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, UiContext]]:
    """A client of ``org``'s UI (base ``http://n/ui``) and its context."""
    ctx, service = demo_context(net, org, payer=payer)
    app = FastAPI()
    mount_ui(app, ctx)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://n/ui") as ui:
            yield ui, ctx
    finally:
        service.close()
