"""The provider's prior-authorization requests: every request this organisation sent to a
payer, with its status (pended with the time left, approved, denied with the reason codes…),
read from the ``prior_auth`` contract on the node's own peer. Part of the provider's view (role
``provider``). The payer keeps the request Bundles and the reviewer's explanation; the chain
holds the status, deadline and reason codes every party may read.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careledger.access import Rule, access
from careledger.contracts.payer.prior_auth import PriorAuth
from careledger.errors import CareLedgerError
from careledger.web.context import UiContext
from careledger.web.desks.payer_data import Request as PaRequest
from careledger.web.desks.payer_data import request_of
from careledger.web.render import page
from careledger.web.sessions import require

NAMESPACE = PriorAuth.name


async def sent_requests(ctx: UiContext) -> list[PaRequest]:
    """The requests this organisation sent, newest first (none without the contract)."""
    try:
        found = await ctx.node.gateway.evaluate(NAMESPACE, "requests", [ctx.org, ""])
    except CareLedgerError:  # the prior_auth contract is not approved on this consortium
        return []
    now = int(time.time() * 1000)
    mine = [request_of(r, now) for r in found if r["requester"] == ctx.org]
    return sorted(mine, key=lambda r: -r.submitted_at)


def routes(router: APIRouter, ctx: UiContext) -> None:
    @router.get("/provider/prior-auth", openapi_extra=access(Rule.SESSION))
    async def prior_auth(request: Request) -> Response:
        """This organisation's prior-authorization requests and their status at each payer."""
        require(request, "provider")
        return page(
            request,
            "provider_prior_auth.html",
            "Prior authorizations",
            requests=await sent_requests(ctx),
        )
