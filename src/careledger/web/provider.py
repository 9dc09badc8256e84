"""The provider's view: find an enrolled patient, read their longitudinal record with a badge
per source, break the glass with a reason in an emergency, and follow the organisation's
prior-authorization requests (:mod:`careledger.web.desks.provider_pa`). Role ``provider`` (a
``client`` member of this organisation, :mod:`careledger.web.login`).

The patient chosen is kept in the session, not the URL (a local patient id or DID in a URL ends
up in logs and browser history). Break-glass is a POST with a reason code: the holders audit it
on the ledger before they answer, and the patient sees a notice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from careledger.access import Rule, access
from careledger.longitudinal.everything import BREAK_GLASS_REASONS
from careledger.longitudinal.ledger import PatientLink
from careledger.web.context import UiContext
from careledger.web.desks import provider_pa
from careledger.web.records import assemble
from careledger.web.registry import NavEntry, View, register
from careledger.web.render import page
from careledger.web.sessions import first, read_form, require

REASONS = {
    "UNCONSCIOUS": "Patient unconscious",
    "LIFE-THREAT": "Life-threatening emergency",
    "INCAPACITY": "Patient lacks capacity",
    "CONSENT-UNREACHABLE": "Consent cannot be obtained in time",
}
assert set(REASONS) == set(BREAK_GLASS_REASONS)


def routes(router: APIRouter, ctx: UiContext) -> None:
    def find(text: str) -> PatientLink | None:
        if ctx.fhir is None or not text or len(text) > 200:
            return None
        directory = ctx.fhir.ledger.directory
        link = directory.by_did(text) or directory.by_patient(
            text if text.startswith("Patient/") else f"Patient/{text}"
        )
        return None if link is None or link.erased else link

    @router.get("/provider", openapi_extra=access(Rule.SESSION))
    async def lookup(request: Request) -> Response:
        """Find an enrolled patient by local id or DID."""
        require(request, "provider")
        return page(request, "provider_lookup.html", "Find a patient", error="")

    @router.post("/provider", openapi_extra=access(Rule.SESSION))
    async def choose(request: Request) -> Response:
        """Choose the patient (kept in the session) and open their record."""
        session = require(request, "provider")
        form = await read_form(request)
        link = find(first(form, "patient"))
        if link is None:
            return page(
                request,
                "provider_lookup.html",
                "Find a patient",
                404,
                error="No patient enrolled here with that id or DID.",
            )
        session.set("patient", link.patient)
        return RedirectResponse("/ui/provider/record", status_code=303)

    async def show(request: Request, reason: str | None = None, offset: int = 0) -> Response:
        session = require(request, "provider")
        patient = session.get("patient")
        link = find(patient) if isinstance(patient, str) else None
        if link is None or ctx.fhir is None:
            return RedirectResponse("/ui/provider", status_code=303)
        record = await assemble(ctx.fhir, link.patient, break_glass=reason, offset=offset)
        return page(
            request, "provider_record.html", "Patient record", record=record, reasons=REASONS
        )

    @router.get("/provider/record", openapi_extra=access(Rule.SESSION))
    async def record(
        request: Request, offset: Annotated[int, Query(ge=0, le=10**9)] = 0
    ) -> Response:
        """The chosen patient's record from every holder, as consent allows (a page at a
        time from ``offset``)."""
        return await show(request, offset=offset)

    @router.post("/provider/break-glass", openapi_extra=access(Rule.SESSION))
    async def break_glass(request: Request) -> Response:
        """Emergency access with a reason: audited, and the patient is notified."""
        require(request, "provider")
        form = await read_form(request)
        reason = first(form, "reason")
        if reason not in REASONS:
            session = require(request, "provider")
            session.flash("Break-glass needs a reason.")
            return RedirectResponse("/ui/provider/record", status_code=303)
        return await show(request, reason)

    provider_pa.routes(router, ctx)  # the organisation's prior-authorization requests


VIEW = register(
    View(
        role="provider",
        title="Clinician",
        home="/ui/provider",
        routes=routes,
        nav=(
            NavEntry("Find a patient", "/ui/provider"),
            NavEntry("Patient record", "/ui/provider/record"),
            NavEntry("Prior authorizations", "/ui/provider/prior-auth"),
        ),
    )
)
