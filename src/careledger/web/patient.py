"""The patient's view: my record, who accessed it, my consents, my credentials, break-glass
notices, my rewards (:mod:`careledger.web.rewards`). Role ``patient`` (DID authentication,
:mod:`careledger.web.login`).

Everything is keyed by the DID the session authenticated — never by anything in the URL — so a
page cannot show another patient's data. Consents are signed by the patient's wallet: through
:class:`~careledger.web.context.PatientWallets` when the node can reach it (demo), else the page
shows the exact bytes to sign and takes the pasted signature.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from careledger.access import Rule
from careledger.access import access as access_rule
from careledger.contracts.consent import decode_records, grant_payload, revoke_payload
from careledger.credentials.ledger import gateway_query
from careledger.credentials.request import PresentationRequest
from careledger.errors import CareLedgerError
from careledger.longitudinal.accounting import accounting_of_disclosures, break_glass_notices
from careledger.longitudinal.ledger import PatientLink
from careledger.web import qr, rewards
from careledger.web.consent_form import (
    CLASSES,
    PURPOSES,
    SENSITIVE,
    ConsentFormError,
    terms_from_form,
)
from careledger.web.context import UiContext
from careledger.web.records import assemble
from careledger.web.registry import NavEntry, View, register
from careledger.web.render import page, svg
from careledger.web.sessions import Session, first, read_form, require

DAY_MS = 86_400_000
#: Audit records the access page shows (newest first); the CSV has them all.
ACCESS_ROWS = 200
#: Claims a coverage credential discloses selectively (what the presentation form offers).
CLAIM_NAMES = ("memberId", "planId", "planName", "payerName")
CSV_FIELDS = (
    "when",
    "holder",
    "requester",
    "practitioner",
    "action",
    "reason",
    "purpose",
    "categories",
    "count",
    "break_glass",
    "tx",
)


def _link(ctx: UiContext, did: str) -> PatientLink | None:
    if ctx.fhir is None:
        return None
    link = ctx.fhir.ledger.directory.by_did(did)
    return None if link is None or link.erased else link


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def routes(router: APIRouter, ctx: UiContext) -> None:
    rewards.routes(router, ctx)  # the rewards wallet (careledger.web.rewards)
    query = gateway_query(ctx.node.gateway)  # consents are the ledger's, FHIR side or not

    def consents(did: str) -> list[Any]:
        try:
            return sorted(
                decode_records(query("consent", "consents", [did])),
                key=lambda r: r.granted_at,
                reverse=True,
            )
        except CareLedgerError:
            return []

    @router.get("/patient", openapi_extra=access_rule(Rule.SESSION))
    async def record(
        request: Request, offset: Annotated[int, Query(ge=0, le=10**9)] = 0
    ) -> Response:
        """My record: every holder's resources by category and date, with source and badge
        (a page at a time from ``offset``)."""
        session = require(request, "patient")
        link = _link(ctx, session.subject)
        assembled = None
        if link is not None and ctx.fhir is not None:
            assembled = await assemble(ctx.fhir, link.patient, offset=offset)
        return page(
            request, "patient_record.html", "My record", enrolled=link is not None, record=assembled
        )

    def access_rows(session: Session) -> list[Any]:
        link = _link(ctx, session.subject)
        if link is None or ctx.fhir is None:
            return []
        now = int(time.time() * 1000)
        report = accounting_of_disclosures(ctx.fhir.ledger.session, link.handle, 0, now + DAY_MS)
        return sorted(report.rows, key=lambda r: r.recorded, reverse=True)

    @router.get("/patient/access", openapi_extra=access_rule(Rule.SESSION))
    async def access(request: Request) -> Response:
        """Who accessed my data: every audit record about me, from every holder."""
        session = require(request, "patient")
        link = _link(ctx, session.subject)
        notices: list[Any] = []
        if link is not None and ctx.fhir is not None:
            notices = break_glass_notices(ctx.fhir.ledger.session, link.handle)
        rows = access_rows(session)
        return page(
            request,
            "patient_access.html",
            "Who accessed my data",
            rows=rows[:ACCESS_ROWS],
            total=len(rows),
            notices=notices,
            enrolled=link is not None,
        )

    @router.get("/patient/access.csv", openapi_extra=access_rule(Rule.SESSION))
    async def access_csv(request: Request) -> Response:
        """The same audit trail as CSV (a download; no caching)."""
        session = require(request, "patient")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for r in access_rows(session):
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.recorded / 1000))
            writer.writerow(
                [
                    when,
                    r.holder,
                    r.requester,
                    r.practitioner or "",
                    r.action,
                    r.reason,
                    r.purpose or "",
                    " ".join(r.resource_types),
                    r.count,
                    "yes" if r.break_glass else "",
                    r.tx,
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": 'attachment; filename="access-log.csv"',
                "cache-control": "no-store",
            },
        )

    def consent_page(
        request: Request,
        session: Session,
        error: str = "",
        status: int = 200,
        pending: dict[str, str] | None = None,
    ) -> Response:
        return page(
            request,
            "patient_consents.html",
            "My consents",
            status,
            consents=consents(session.subject),
            orgs=ctx.node.membership().org_ids(),
            purposes=PURPOSES,
            classes=CLASSES,
            sensitive=SENSITIVE,
            error=error,
            wallet=ctx.wallets is not None and ctx.wallets.get(session.subject) is not None,
            pending=pending,
            now_ms=int(time.time() * 1000),
        )

    @router.get("/patient/consents", openapi_extra=access_rule(Rule.SESSION))
    async def consents_page(request: Request) -> Response:
        """My consents, a form to grant one, a button to revoke each."""
        session = require(request, "patient")
        return consent_page(request, session)

    def _signature(session: Session, form: dict[str, list[str]], payload: bytes) -> bytes | None:
        wallet = ctx.wallets.get(session.subject) if ctx.wallets is not None else None
        if wallet is not None:
            return wallet.sign(payload)
        text = first(form, "signature")
        if not text:
            return None
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return b""

    @router.post("/patient/consents", openapi_extra=access_rule(Rule.SESSION))
    async def grant(request: Request) -> Response:
        """Grant a consent signed by my wallet (recipient, purposes, scope, expiry)."""
        session = require(request, "patient")
        form = await read_form(request)
        try:
            terms = terms_from_form(form, ctx.node.membership().org_ids())
        except ConsentFormError as exc:
            return consent_page(request, session, str(exc), 400)
        payload = grant_payload(session.subject, terms)
        signature = _signature(session, form, payload)
        if signature is None:  # no wallet here: show what to sign, keep the terms in the form
            pending = {"terms": msgspec.json.encode(terms).decode(), "payload": _b64(payload)}
            return consent_page(request, session, pending=pending)
        try:
            await ctx.node.gateway.submit(
                "consent", "grant", [session.subject, msgspec.to_builtins(terms), signature]
            )
        except CareLedgerError as exc:
            return consent_page(request, session, f"The ledger refused the consent: {exc}", 400)
        session.flash(f"Consent for {terms.grantee} granted.")
        return RedirectResponse("/ui/patient/consents", status_code=303)

    @router.post("/patient/consents/revoke", openapi_extra=access_rule(Rule.SESSION))
    async def revoke(request: Request) -> Response:
        """Revoke one of my consents (signed by my wallet)."""
        session = require(request, "patient")
        form = await read_form(request)
        consent = first(form, "consent")
        if not _is_digest(consent):
            return consent_page(request, session, "Choose a consent to revoke.", 400)
        signature = _signature(session, form, revoke_payload(session.subject, consent))
        if not signature:
            return consent_page(request, session, "Your wallet must sign the revocation.", 400)
        try:
            await ctx.node.gateway.submit(
                "consent", "revoke", [session.subject, consent, signature]
            )
        except CareLedgerError as exc:
            return consent_page(request, session, f"The ledger refused: {exc}", 400)
        session.flash("Consent revoked. The next request it covered will be refused.")
        return RedirectResponse("/ui/patient/consents", status_code=303)

    @router.get("/patient/credentials", openapi_extra=access_rule(Rule.SESSION))
    async def credentials(
        request: Request, claims: Annotated[list[str] | None, Query(max_length=32)] = None
    ) -> Response:
        """My wallet's credentials; a selective-disclosure presentation as a QR code."""
        session = require(request, "patient")
        wallet = ctx.wallets.get(session.subject) if ctx.wallets is not None else None
        stored = wallet.credentials() if wallet is not None else []
        code = None
        chosen = [c for c in (claims or []) if c.isidentifier()]
        sd = next((c for c in stored if c.format == "sd-jwt"), None)
        if wallet is not None and sd is not None and chosen:
            request_ = PresentationRequest.new(sd.type, chosen, ctx.login_audience())
            try:
                code = svg(qr.svg_of(wallet.present(request_), "Presentation QR code"))
            except CareLedgerError as exc:
                session.flash(f"The wallet could not present: {exc}")
        return page(
            request,
            "patient_credentials.html",
            "My credentials",
            wallet=wallet is not None,
            credentials=stored,
            qr=code,
            chosen=chosen,
            claim_names=CLAIM_NAMES,
        )


def _is_digest(text: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{64}", text) is not None


VIEW = register(
    View(
        role="patient",
        title="My health record",
        home="/ui/patient",
        routes=routes,
        nav=(
            NavEntry("My record", "/ui/patient"),
            NavEntry("Who accessed my data", "/ui/patient/access"),
            NavEntry("Consents", "/ui/patient/consents"),
            NavEntry("Credentials", "/ui/patient/credentials"),
            NavEntry("Rewards", "/ui/patient/rewards"),
        ),
    )
)
