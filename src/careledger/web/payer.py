"""The payer's view (claims queue, prior-authorization review with deadlines, remittances,
provider directory, duplicate-claim alerts): registered, not listed in navigation, until it is
wired to :mod:`careledger.payer` (the backend is on every node: PAS review queue, claims,
remittances, directory). :class:`PayerQueue` is the data source the pages will read; it raises
``NotImplementedError`` until then, so the page answers 501 rather than showing made-up data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careledger.access import Rule, access
from careledger.web.context import UiContext
from careledger.web.registry import View, register
from careledger.web.render import page
from careledger.web.sessions import require


class PayerQueue:
    """Claims and prior-authorization requests awaiting this payer (to read from
    :mod:`careledger.payer`: the PAS review queue and pended claims)."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def pending(self) -> list[object]:
        raise NotImplementedError(
            "the payer desk is not wired to careledger.payer yet (PA review queue, claims)"
        )


def routes(router: APIRouter, ctx: UiContext) -> None:
    queue = PayerQueue(ctx)

    @router.get("/payer", openapi_extra=access(Rule.SESSION))
    async def claims_queue(request: Request) -> Response:
        """The payer's work queue (not yet available: 501)."""
        require(request, "payer")
        try:
            items = queue.pending()
        except NotImplementedError as exc:
            return page(request, "unavailable.html", "Payer queue", 501, why=str(exc))
        return page(request, "unavailable.html", "Payer queue", why=f"{len(items)} items")


VIEW = register(View(role="payer", title="Payer", home="/ui/payer", routes=routes, listed=False))
