"""The payer routes a node serves: Da Vinci PAS operations, the review desk, the CMS report,
eligibility, and the Plan-Net directory (:mod:`careledger.payer.directory.routes`).

Every route takes a signed request (the node API's ``X-CareLedger-*`` headers, docs/api.md) from
a consortium member; the caller's organisation is the requester. FHIR routes answer errors as
an ``OperationOutcome`` whose issues name the location (``Bundle.entry[0].resource.use``); the
other routes as the node API's JSON errors. Routes parse and delegate to
:class:`~careledger.payer.pas.service.PriorAuthService`.

=================================================  ==========================================
``POST /fhir/Claim/$submit``                        PAS request, update or cancellation
``POST /fhir/Claim/$inquire``                       the caller's requests for a member
``POST /fhir/CoverageEligibilityRequest/$submit``   eligibility (plans contract)
``POST /payer/prior-auth/subscriptions``            rest-hook for the caller's decisions
``GET  /payer/prior-auth/pending``                  the review queue (payer's own users)
``GET  /payer/prior-auth/metrics?year=&payer=``     CMS public-report figures from the chain
``POST /payer/prior-auth/deadlines``                mark breached deadlines (payer)
``GET  /payer/prior-auth/{number}``                 the response Bundle (payer or requester)
``POST /payer/prior-auth/{number}/decision``        a reviewer's decision (payer)
``POST /payer/prior-auth/{number}/extension``       take the extended timeframe (payer)
``POST /payer/prior-auth/{number}/appeal``          appeal a denial (requester)
=================================================  ==========================================
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from careledger.access import Rule, access
from careledger.errors import AccessDenied, InvalidInput
from careledger.identity.msp import MemberCert
from careledger.payer.directory.desk import DirectoryDesk
from careledger.payer.directory.plan_net import DirectoryReader
from careledger.payer.directory.routes import add_directory_routes
from careledger.payer.eligibility import EligibilitySource, eligibility_response
from careledger.payer.http import (
    FHIR_JSON,
    caller,
    fhir_route,
    json_object,
    json_route,
    require_own_user,
)
from careledger.payer.pas.service import PriorAuthService

_NUMBER = r"^PA[A-Z]{20}$"
_NUMBER_RE = re.compile(_NUMBER)


def _number(request: Request) -> str:
    number = str(request.path_params.get("number", ""))
    if not _NUMBER_RE.match(number):
        raise InvalidInput("an authorization number is PA and 20 capital letters")
    return number


def add_payer_routes(
    app: FastAPI,
    pas: PriorAuthService,
    eligibility: EligibilitySource | None = None,
    directory: tuple[DirectoryReader, DirectoryDesk] | None = None,
) -> None:
    """Add the PAS, review-desk, metrics and eligibility routes to the node's FastAPI ``app``
    (before ``/fhir`` is mounted, so these paths win over the FHIR store's), and the directory's
    when ``directory`` is given."""
    gateway = pas.gateway
    if directory is not None:
        add_directory_routes(app, gateway, *directory)

    def own_users(member: MemberCert) -> None:
        require_own_user(member, pas.org, "act for the payer")

    async def submit(_r: Request, member: MemberCert, body: bytes) -> Any:
        """A Da Vinci PAS request, update or cancellation; answers the PAS response Bundle."""
        return await pas.submit(body, member.org)

    async def inquire(_r: Request, member: MemberCert, body: bytes) -> Any:
        """The caller's requests for the member the inquiry Bundle names."""
        return await pas.inquire(body, member.org)

    async def eligible(_r: Request, member: MemberCert, body: bytes) -> Any:
        """A CoverageEligibilityResponse from the plans contract and the accumulators."""
        if eligibility is None:
            raise InvalidInput("this node answers no eligibility requests (not a payer)")
        return await eligibility_response(body, eligibility, pas.org, pas.secret)

    async def subscribe(_r: Request, member: MemberCert, body: bytes) -> Any:
        """Register a rest-hook for the caller's decisions."""
        endpoint = json_object(body).get("endpoint")
        if not isinstance(endpoint, str):
            raise InvalidInput("endpoint: the rest-hook URL")
        return {"endpoints": pas.subscribe(member.org, endpoint)}

    async def pending(_r: Request, member: MemberCert, _b: bytes) -> Any:
        """The review queue (the payer's own users)."""
        own_users(member)
        return {"pending": await pas.pending()}

    async def deadlines(_r: Request, member: MemberCert, body: bytes) -> Any:
        """Mark pended requests past their deadline as breached (the payer's own users)."""
        own_users(member)
        now = json_object(body).get("now")
        if not isinstance(now, int) or isinstance(now, bool) or now < 0:
            raise InvalidInput("now: milliseconds since the epoch")
        return await pas.check_deadlines(now)

    async def read(request: Request, member: MemberCert, _b: bytes) -> Any:
        """The current PAS response Bundle of a request (payer or requester)."""
        record = await pas.get(_number(request))
        if member.org not in (pas.org, record["requester"]):
            raise AccessDenied("only the payer and the requester read a request")
        return Response(msgspec.json.encode(pas.response(record)), media_type=FHIR_JSON)

    async def decide(request: Request, member: MemberCert, body: bytes) -> Any:
        """A reviewer's decision (the payer's own users)."""
        own_users(member)
        bundle = await pas.decide(_number(request), body)
        return Response(msgspec.json.encode(bundle), media_type=FHIR_JSON)

    async def extend(request: Request, member: MemberCert, body: bytes) -> Any:
        """Take the 14-day extension of a standard request (the payer's own users)."""
        own_users(member)
        reason = json_object(body).get("reason")
        if not isinstance(reason, str):
            raise InvalidInput("reason: an X12 HCR03 reason code")
        bundle = await pas.extend(_number(request), reason)
        return Response(msgspec.json.encode(bundle), media_type=FHIR_JSON)

    async def appeal(request: Request, member: MemberCert, _b: bytes) -> Any:
        """Appeal a denial (the requester)."""
        bundle = await pas.appeal(_number(request), member.org)
        return Response(msgspec.json.encode(bundle), media_type=FHIR_JSON)

    fhir: list[str | Enum] = ["fhir"]
    any_member, own = access(Rule.MEMBER), access(Rule.OWN_ORG)
    app.add_api_route(
        "/fhir/Claim/$submit",
        fhir_route(gateway, submit),
        methods=["POST"],
        tags=fhir,
        openapi_extra=any_member,
    )
    app.add_api_route(
        "/fhir/Claim/$inquire",
        fhir_route(gateway, inquire),
        methods=["POST"],
        tags=fhir,
        openapi_extra=any_member,
    )
    app.add_api_route(
        "/fhir/CoverageEligibilityRequest/$submit",
        fhir_route(gateway, eligible),
        methods=["POST"],
        tags=fhir,
        openapi_extra=any_member,
    )
    tags: list[str | Enum] = ["payer"]
    base = "/payer/prior-auth"
    app.add_api_route(
        f"{base}/subscriptions",
        json_route(gateway, subscribe),
        methods=["POST"],
        tags=tags,
        openapi_extra=any_member,
    )
    app.add_api_route(
        f"{base}/pending",
        json_route(gateway, pending),
        methods=["GET"],
        tags=tags,
        openapi_extra=own,
    )
    app.add_api_route(
        f"{base}/deadlines",
        json_route(gateway, deadlines),
        methods=["POST"],
        tags=tags,
        openapi_extra=own,
    )

    async def signed(request: Request) -> MemberCert:
        """The caller, checked before the query is (401 before 400)."""
        return caller(request, b"", gateway)

    @app.get(f"{base}/metrics", tags=tags, openapi_extra=any_member)
    async def metrics(
        year: Annotated[int, Query(ge=1970, le=9999)],
        payer: Annotated[str | None, Query(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")] = None,
        _member: MemberCert = Depends(signed),  # noqa: B008 - FastAPI's dependency idiom
    ) -> Response:
        """CMS public-report figures of ``year`` from this node's copy of the chain."""
        return JSONResponse(pas.metrics(year, payer).to_json())

    app.add_api_route(
        f"{base}/{{number}}",
        json_route(gateway, read),
        methods=["GET"],
        tags=tags,
        openapi_extra=any_member,
    )
    for suffix, handler, rule in (
        ("decision", decide, own),
        ("extension", extend, own),
        ("appeal", appeal, any_member),
    ):
        app.add_api_route(
            f"{base}/{{number}}/{suffix}",
            json_route(gateway, handler),
            methods=["POST"],
            tags=tags,
            openapi_extra=rule,
        )
