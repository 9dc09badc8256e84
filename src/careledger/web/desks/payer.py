"""The payer desk: prior-authorization review with deadlines and decisions, the claims queue with
duplicate-claim alerts, remittances (an 835 per payee and day) and the provider directory with
each licence's verification status, plus a plot of decision times. For staff who chose the
payer desk at sign-in (admins and clients of this organisation, :mod:`careledger.web.login`).

Data: :class:`~careledger.web.desks.payer_data.PayerData` over the node's payer side. Every
decision goes through the PAS service, so it is a ``prior_auth.decide`` transaction on the
chain; a denial without a reason code and an explanation is refused on the page before
anything is sent. Addresses carry authorization numbers (letters) and hex ids only.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from careledger.access import Rule, access
from careledger.errors import CareLedgerError, InvalidInput
from careledger.web import charts
from careledger.web.context import UiContext
from careledger.web.desks.payer_data import (
    ACTIONS,
    MAX_TEXT,
    DecisionError,
    PayerData,
    parse_number,
    plot_unit,
)
from careledger.web.registry import NavEntry, View, register
from careledger.web.render import SECURITY_HEADERS, page, svg
from careledger.web.sessions import first, read_form, require

_CLAIM_KEY = re.compile(r"^[0-9a-f]{64}$")
_REF = re.compile(r"^[0-9a-f]{24}$")


def _unavailable(request: Request, title: str, exc: NotImplementedError) -> Response:
    return page(request, "unavailable.html", title, 501, why=str(exc))


def routes(router: APIRouter, ctx: UiContext) -> None:
    data = PayerData(ctx)

    async def review_page(
        request: Request, error: str = "", status: int = 200, form: dict[str, str] | None = None
    ) -> Response:
        require(request, "payer")
        try:
            queue, decided = await data.review_queue(), await data.decided()
        except NotImplementedError as exc:
            return _unavailable(request, "Prior authorization review", exc)
        return page(
            request,
            "payer_review.html",
            "Prior authorization review",
            status,
            queue=queue,
            decided=decided,
            actions=ACTIONS,
            error=error,
            form=form or {},
            max_text=MAX_TEXT,
        )

    @router.get("/payer", openapi_extra=access(Rule.SESSION))
    async def review(request: Request) -> Response:
        """This payer's pended prior-authorization requests with their deadlines (overdue
        first), decide forms, and the latest decisions."""
        return await review_page(request)

    @router.post("/payer/prior-auth/decide", openapi_extra=access(Rule.SESSION))
    async def decide(request: Request) -> Response:
        """Approve, deny (reason code and explanation required) or keep pended: a
        ``prior_auth.decide`` transaction through the PAS service."""
        session = require(request, "payer")
        form = await read_form(request)
        entered = {k: first(form, k) for k in ("number", "action", "reason", "text")}
        try:
            number = parse_number(entered["number"])
            done = await data.decide(number, entered["action"], entered["reason"], entered["text"])
        except (DecisionError, InvalidInput) as exc:
            return await review_page(request, f"Not recorded: {exc}", 400, entered)
        except NotImplementedError as exc:
            return _unavailable(request, "Prior authorization review", exc)
        except CareLedgerError as exc:
            return await review_page(request, f"The ledger refused: {str(exc)[:200]}", 400)
        session.flash(f"{done.number}: {done.status_text}.")
        return RedirectResponse("/ui/payer", status_code=303)

    @router.get("/payer/decision-times", openapi_extra=access(Rule.SESSION))
    async def decision_times(request: Request) -> Response:
        """Hours from request (or update, or appeal) to decision, from the chain's events, and
        this year's CMS-0057-F figures."""
        require(request, "payer")
        try:
            _ = data.backend
        except NotImplementedError as exc:
            return _unavailable(request, "Decision times", exc)
        rows, report = data.decision_times()
        shown = rows[-40:]
        unit, factor = plot_unit([r.hours for r in shown])
        plot = charts.bars(
            f"Time to decide each prior authorization request ({unit}), oldest to newest",
            [r.number for r in shown],
            [round(r.hours * factor, 2) for r in shown],
            unit,
        )
        return page(
            request,
            "payer_times.html",
            "Decision times",
            rows=list(reversed(shown)),
            report=report,
            plot=svg(plot),
            unit=unit,
        )

    @router.get("/payer/claims", openapi_extra=access(Rule.SESSION))
    async def claims(request: Request) -> Response:
        """The latest claims adjudicated (status, disposition, amounts) and duplicate alerts:
        claims pended as suspect duplicates, and cross-payer duplicates from the chain."""
        require(request, "payer")
        try:
            rows = await data.claims()
            alerts = data.cross_payer_alerts()
        except NotImplementedError as exc:
            return _unavailable(request, "Claims", exc)
        pended = [r for r in rows if r.disposition == "pended"]
        return page(
            request, "payer_claims.html", "Claims", claims=rows, pended=pended, alerts=alerts
        )

    @router.post("/payer/claims/review", openapi_extra=access(Rule.SESSION))
    async def review_claim(request: Request) -> Response:
        """Decide a claim pended as a suspect duplicate: deny its suspect lines, or price them."""
        session = require(request, "payer")
        form = await read_form(request)
        key, verdict = first(form, "claim"), first(form, "verdict")
        if not _CLAIM_KEY.match(key) or verdict not in ("duplicate", "not-duplicate"):
            session.flash("Choose a pended claim and a verdict.")
            return RedirectResponse("/ui/payer/claims", status_code=303)
        try:
            disposition = await data.review_claim(key, verdict == "duplicate")
        except NotImplementedError as exc:
            return _unavailable(request, "Claims", exc)
        session.flash(f"Claim {key[:12]}…: {disposition}.")
        return RedirectResponse("/ui/payer/claims", status_code=303)

    @router.get("/payer/remittances", openapi_extra=access(Rule.SESSION))
    async def remittances(request: Request) -> Response:
        """An 835 per payee and adjudication day, newest first, each to download."""
        require(request, "payer")
        try:
            rows = await data.remittances()
        except NotImplementedError as exc:
            return _unavailable(request, "Remittances", exc)
        return page(request, "payer_remittances.html", "Remittances", rows=rows)

    @router.get("/payer/remittances/{ref}", openapi_extra=access(Rule.SESSION))
    async def remittance(request: Request, ref: str) -> Response:
        """One 835 (X12) by its hex id from the list, as a download."""
        require(request, "payer")
        if not _REF.match(ref):
            raise InvalidInput("not a remittance id")
        try:
            row, x12 = await data.remittance_file(ref)
        except NotImplementedError as exc:
            return _unavailable(request, "Remittances", exc)
        headers: dict[str, Any] = dict(SECURITY_HEADERS)
        headers["content-disposition"] = f'attachment; filename="835-{row.date}-{ref}.x12"'
        return Response(x12, media_type="application/edi-x12", headers=headers)

    @router.get("/payer/directory", openapi_extra=access(Rule.SESSION))
    async def directory(request: Request) -> Response:
        """Practitioner roles in the shared directory, each licence verified now."""
        require(request, "payer")
        try:
            rows = await data.directory()
        except NotImplementedError as exc:
            return _unavailable(request, "Provider directory", exc)
        return page(request, "payer_directory.html", "Provider directory", rows=rows)


VIEW = register(
    View(
        role="payer",
        title="Payer",
        home="/ui/payer",
        routes=routes,
        nav=(
            NavEntry("Prior authorizations", "/ui/payer"),
            NavEntry("Decision times", "/ui/payer/decision-times"),
            NavEntry("Claims", "/ui/payer/claims"),
            NavEntry("Remittances", "/ui/payer/remittances"),
            NavEntry("Directory", "/ui/payer/directory"),
        ),
    )
)
