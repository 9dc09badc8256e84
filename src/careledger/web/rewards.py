"""The patient's rewards wallet: care points in every campaign, their history and expiry, and
redemption for catalogue items. Part of the patient's view (role ``patient``).

Points are account-bound: there is no transfer control, by design (docs/incentives.md). The
campaign accounts are keyed by per-campaign pseudonyms that only the patient's wallet can derive
(:class:`~careledger.incentives.wallet.MemberWallet`); the node reaches that key only for an
in-process demo wallet, else the page says to use the wallet on the patient's device.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from careledger.access import Rule, access
from careledger.contracts.incentives import NAMESPACE
from careledger.errors import CareLedgerError
from careledger.incentives.members import Holding, history, holdings, redeem
from careledger.incentives.wallet import MemberWallet
from careledger.web.context import UiContext
from careledger.web.render import page
from careledger.web.sessions import Session, first, read_form, require

_CAMPAIGN = re.compile(r"^[a-z][a-z0-9-]{2,39}$")
_ITEM = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat() if ms else "—"


def routes(router: APIRouter, ctx: UiContext) -> None:
    gateway = ctx.node.gateway

    def member_wallet(session: Session) -> MemberWallet | None:
        wallets = ctx.wallets
        wallet = wallets.get(session.subject) if wallets is not None else None
        return None if wallet is None else wallet.rewards

    async def rewards_page(request: Request, error: str = "", status: int = 200) -> Response:
        session = require(request, "patient")
        wallet = member_wallet(session)
        held: list[Holding] = []
        rows: list[dict[str, Any]] = []
        catalogue: dict[str, list[dict[str, Any]]] = {}
        if wallet is not None:
            try:
                campaigns: list[str] = await gateway.evaluate(NAMESPACE, "campaigns", [])
            except CareLedgerError:  # no incentives contract on this consortium
                campaigns = []
            held = await holdings(gateway, wallet, campaigns)
            for h in held:
                found = await gateway.evaluate(NAMESPACE, "campaign", [h.campaign])
                catalogue[h.campaign] = list(found["spec"]["catalogue"])
                for change in await history(gateway, wallet, h.campaign):
                    rows.append({"campaign": h.campaign, **change})
        return page(
            request,
            "patient_rewards.html",
            "My rewards",
            status,
            wallet=wallet is not None,
            holdings=held,
            catalogue=catalogue,
            history=rows[-100:],
            when=_when,
            error=error,
        )

    @router.get("/patient/rewards", openapi_extra=access(Rule.SESSION))
    async def rewards(request: Request) -> Response:
        """My care points by campaign (balance, expiry, history); no transfers."""
        return await rewards_page(request)

    @router.post("/patient/rewards/redeem", openapi_extra=access(Rule.SESSION))
    async def redeem_points(request: Request) -> Response:
        """Redeem points for a catalogue item, signed by my wallet's campaign key."""
        session = require(request, "patient")
        form = await read_form(request)
        wallet = member_wallet(session)
        campaign, item = first(form, "campaign"), first(form, "item")
        if wallet is None:
            return await rewards_page(request, "This node cannot reach your rewards key.", 400)
        if not (_CAMPAIGN.match(campaign) and _ITEM.match(item)):
            return await rewards_page(request, "Choose a campaign and an item.", 400)
        try:
            done = await redeem(gateway, wallet, campaign, item)
        except CareLedgerError as exc:
            return await rewards_page(request, f"The ledger refused: {exc}", 400)
        if done.status != "redeemed":
            return await rewards_page(request, f"Not redeemed: {done.code}", 400)
        session.flash(f"Redeemed {done.points} points for {item}; {done.balance} left.")
        return RedirectResponse("/ui/patient/rewards", status_code=303)
