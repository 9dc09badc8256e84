"""The sponsor / auditor view: the campaigns this organisation funds or audits, each with its
report (funded, awarded, redeemed, expired, clawed back, remaining; distinct members suppressed
below 11, as :func:`careledger.incentives.reports.campaign_report` reports them) and a funnel
plot. For the organisation's admins who chose the sponsor desk at sign-in. Reads the
``incentives`` contract through the node's gateway; a node whose consortium has not approved it
shows no campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from careledger.access import Rule, access
from careledger.contracts.incentives import SMALL_CELL
from careledger.errors import CareLedgerError
from careledger.incentives.reports import CampaignReport, campaign_report
from careledger.web import charts
from careledger.web.context import UiContext
from careledger.web.registry import NavEntry, View, register
from careledger.web.render import page, svg
from careledger.web.sessions import require

NAMESPACE = "incentives"


@dataclass(frozen=True)
class CampaignView:
    campaign: str
    program: str
    sponsor: str
    auditor: str | None
    role: str  # "sponsor" or "auditor": this organisation's part in it
    report: CampaignReport
    funnel: Markup


class CampaignReports:
    """The campaigns this organisation sponsors or audits, with their reports."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    async def campaigns(self) -> list[CampaignView]:
        gateway = self.ctx.node.gateway
        try:
            ids: list[str] = await gateway.evaluate(NAMESPACE, "campaigns", [])
        except CareLedgerError:  # the contract is not approved on this consortium
            return []
        views = []
        for campaign_id in ids:
            found: dict[str, Any] = await gateway.evaluate(NAMESPACE, "campaign", [campaign_id])
            auditor = found["spec"].get("auditor")
            if self.ctx.org not in (found["sponsor"], auditor):
                continue
            report = await campaign_report(gateway, campaign_id)
            stages = ["funded", "awarded", "redeemed", "expired", "clawed back", "remaining"]
            values = [
                report.funded, report.awarded, report.redeemed, report.expired,
                report.clawed_back, report.remaining,
            ]  # fmt: skip
            funnel = charts.bars(
                f"Points of {campaign_id}, funded to redeemed", stages, values, "points"
            )
            views.append(
                CampaignView(
                    campaign_id,
                    found["spec"]["program"],
                    found["sponsor"],
                    auditor,
                    "sponsor" if found["sponsor"] == self.ctx.org else "auditor",
                    report,
                    svg(funnel),
                )
            )
        return views


def routes(router: APIRouter, ctx: UiContext) -> None:
    reports = CampaignReports(ctx)

    @router.get("/sponsor", openapi_extra=access(Rule.SESSION))
    async def campaigns(request: Request) -> Response:
        """The campaigns this organisation sponsors or audits, with reports and funnels."""
        require(request, "sponsor")
        return page(
            request,
            "sponsor_campaigns.html",
            "Campaigns",
            campaigns=await reports.campaigns(),
            small_cell=SMALL_CELL,
        )


VIEW = register(
    View(
        role="sponsor",
        title="Sponsor",
        home="/ui/sponsor",
        routes=routes,
        nav=(NavEntry("Campaigns", "/ui/sponsor"),),
    )
)
