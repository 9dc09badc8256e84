"""The sponsor / auditor view (campaigns, funnel, reports with small cells suppressed):
registered, not listed in navigation, until it is wired to :mod:`careledger.incentives` (merged
after this view was written). :class:`CampaignReports` raises ``NotImplementedError`` until then
(the page answers 501).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careledger.web.context import UiContext
from careledger.web.registry import View, register
from careledger.web.render import page
from careledger.web.sessions import require


class CampaignReports:
    """A sponsor's campaigns and their funnel (to read from :mod:`careledger.incentives`)."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def campaigns(self) -> list[object]:
        raise NotImplementedError(
            "the sponsor view is not wired to careledger.incentives (campaigns, reports) yet"
        )


def routes(router: APIRouter, ctx: UiContext) -> None:
    reports = CampaignReports(ctx)

    @router.get("/sponsor")
    async def campaigns(request: Request) -> Response:
        """The sponsor's campaigns (not yet available: 501)."""
        require(request, "sponsor")
        try:
            items = reports.campaigns()
        except NotImplementedError as exc:
            return page(request, "unavailable.html", "Campaigns", 501, why=str(exc))
        return page(request, "unavailable.html", "Campaigns", why=f"{len(items)} campaigns")


VIEW = register(
    View(role="sponsor", title="Sponsor", home="/ui/sponsor", routes=routes, listed=False)
)
