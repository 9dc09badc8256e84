"""The explorer / operator view: dashboard, blocks, transactions, governance, state roots and
search. For the organisation's ``admin`` members (role ``operator``); data from
:mod:`careledger.web.explorer_data`.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from careledger.access import Rule, access
from careledger.web import charts
from careledger.web.context import UiContext
from careledger.web.explorer_data import TX_ID, Explorer
from careledger.web.registry import NavEntry, View, register
from careledger.web.render import fragment, page, svg
from careledger.web.sessions import require

MAX_BLOCK = 2**53


def routes(router: APIRouter, ctx: UiContext) -> None:
    explorer = Explorer(ctx)

    @router.get("/explorer", openapi_extra=access(Rule.SESSION))
    async def dashboard(request: Request) -> Response:
        """Height, throughput, organisations, contracts, peers and ordering health."""
        require(request, "operator")
        recent = explorer.recent()
        labels = [f"#{b.number}" for b in recent]
        throughput = charts.bars(
            "Transactions per block, recent blocks", labels, [b.tx_count for b in recent], "tx"
        )
        gaps = [max(b.timestamp - a.timestamp, 0) / 1000 for a, b in itertools.pairwise(recent)]
        timeline = charts.timeline("Seconds between blocks", labels[1:], gaps)
        return page(
            request,
            "explorer_dashboard.html",
            "Explorer",
            height=explorer.height(),
            tx_per_minute=explorer.tx_per_minute(recent),
            organisations=explorer.organisations(),
            contracts=explorer.contracts(),
            peers=await explorer.peer_states(),
            ordering=explorer.ordering_health(),
            throughput=svg(throughput),
            timeline=svg(timeline),
            recent=list(reversed(recent[-10:])),
        )

    @router.get("/explorer/stats", openapi_extra=access(Rule.SESSION))
    async def stats(request: Request) -> Response:
        """The dashboard's figures alone (htmx refreshes them every 5 s)."""
        require(request, "operator")
        return fragment(
            request,
            "_stats.html",
            height=explorer.height(),
            tx_per_minute=explorer.tx_per_minute(explorer.recent()),
            organisations=len(explorer.organisations()),
            contracts=len(explorer.contracts()),
        )

    @router.get("/explorer/blocks", openapi_extra=access(Rule.SESSION))
    async def blocks(
        request: Request, before: Annotated[int | None, Query(ge=1, le=MAX_BLOCK)] = None
    ) -> Response:
        """Blocks newest first, a page at a time (``before``: the page's upper bound)."""
        require(request, "operator")
        items = explorer.page(before)
        older = items[-1].number if items and items[-1].number > 0 else None
        return page(
            request,
            "explorer_blocks.html",
            "Blocks",
            blocks=items,
            older=older,
            newest=explorer.height(),
        )

    @router.get("/explorer/blocks/{number}", openapi_extra=access(Rule.SESSION))
    async def block(request: Request, number: Annotated[int, Path(ge=0, le=MAX_BLOCK)]) -> Response:
        """One block: header and each transaction with its validation code."""
        require(request, "operator")
        try:
            found = explorer.block(number)
        except LookupError:
            return page(request, "not_found.html", "Not found", 404, what=f"block {number}")
        return page(request, "explorer_block.html", f"Block {number}", block=found)

    @router.get("/explorer/tx/{tx_id}", openapi_extra=access(Rule.SESSION))
    async def transaction(
        request: Request, tx_id: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
    ) -> Response:
        """One transaction: code, read/write set keys and versions, endorsers."""
        require(request, "operator")
        try:
            tx = explorer.transaction(tx_id)
        except LookupError:
            return page(request, "not_found.html", "Not found", 404, what="that transaction")
        return page(request, "explorer_tx.html", "Transaction", tx=tx)

    @router.get("/explorer/governance", openapi_extra=access(Rule.SESSION))
    async def governance(request: Request) -> Response:
        """Governance motions: proposals, approvals, status."""
        require(request, "operator")
        return page(
            request,
            "explorer_governance.html",
            "Governance",
            motions=explorer.motions(),
            contracts=explorer.contracts(),
        )

    @router.get("/explorer/peers", openapi_extra=access(Rule.SESSION))
    async def peers(request: Request) -> Response:
        """State roots and heights across the peers this node knows."""
        require(request, "operator")
        states = await explorer.peer_states()
        return page(request, "explorer_peers.html", "State roots", peers=states)

    @router.get("/explorer/search", openapi_extra=access(Rule.SESSION))
    async def search(request: Request, q: Annotated[str, Query(max_length=300)] = "") -> Response:
        """A block number, a transaction id or a state key (``namespace:key`` or a key)."""
        require(request, "operator")
        text = q.strip()
        if text.isdigit() and len(text) < 16:
            if int(text) < explorer.height():
                return RedirectResponse(f"/ui/explorer/blocks/{int(text)}", status_code=303)
        elif TX_ID.match(text.lower()) and ctx.node.peer.state.tx(text.lower()) is not None:
            return RedirectResponse(f"/ui/explorer/tx/{text.lower()}", status_code=303)
        keys = explorer.key_history(text) if text else []
        return page(request, "explorer_search.html", "Search", q=text, keys=keys)


VIEW = register(
    View(
        role="operator",
        title="Explorer",
        home="/ui/explorer",
        routes=routes,
        nav=(
            NavEntry("Dashboard", "/ui/explorer"),
            NavEntry("Blocks", "/ui/explorer/blocks"),
            NavEntry("Governance", "/ui/explorer/governance"),
            NavEntry("State roots", "/ui/explorer/peers"),
        ),
    )
)
