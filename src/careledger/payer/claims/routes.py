"""The claim routes a payer's node serves: claims in (FHIR and X12), remittance out, and the
cross-payer fingerprint service when the node's organisation runs it.

=================================================  ==========================================
``POST /fhir/Claim/$submit``                        by ``Claim.use``: ``preauthorization`` → PAS
                                                    (:mod:`careledger.payer.routes`), ``claim``
                                                    → adjudicated, answers a ClaimResponse
``POST /payer/x12``                                 an 837P/837I file: 999 + 277CA back (JSON)
``GET  /payer/remittance/{npi}/{date}``             the 835 of a payee's claims of that day
``GET  /fhir/ExplanationOfBenefit?patient=``        the member's CARIN Blue Button EOBs
``POST /payer/claims/{claim_key}/review``           decide a suspect duplicate (payer's users)
``POST /payer/fingerprints/evaluate``               OPRF evaluation, metered on the ledger
=================================================  ==========================================

Every route takes a signed request (docs/api.md). A claim is sent by the provider organisation
(the caller) to the payer (this node); the 835 of a payee is read by the payer's own users or
by the organisation that sent those claims; EOBs by the payer's own users (its member portal).
X12 input is capped (``max_x12_bytes``; 413 over it): a malformed interchange is refused with
400 naming the fault, a malformed transaction set gets a rejecting 999 and none of its claims is
adjudicated.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, Protocol

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from careledger.access import Rule, access
from careledger.api.app import error_response
from careledger.contracts.payer.model import day_number
from careledger.errors import (
    AccessDenied,
    CareLedgerError,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from careledger.identity.msp import MemberCert
from careledger.node.gateway import Gateway
from careledger.payer.claims.fhir import claim_response, claim_use, parse_claim
from careledger.payer.claims.remittance import RemittanceDesk
from careledger.payer.claims_service import ClaimsDesk
from careledger.payer.http import (
    caller,
    fhir_error,
    fhir_ok,
    fhir_route,
    json_object,
    json_route,
    require_own_user,
)
from careledger.payer.pas.bundles import member_handle
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.x12.claim837_map import ClaimDirectory
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.tokens import DEFAULT_LIMITS, Limits

EDI_X12 = "application/edi-x12"
DEFAULT_MAX_X12_BYTES = DEFAULT_LIMITS.max_bytes
_NPI = re.compile(r"^[12][0-9]{9}$")
_CLAIM_KEY = re.compile(r"^[0-9a-f]{64}$")


class NodeClaimDirectory:
    """The node's :class:`ClaimDirectory`: the payer ids that name this organisation (its own
    id and any alias its trading partners use in ``NM1*PR``), and member handles keyed by the
    payer's member secret under its member id system (the same handle PAS and eligibility
    compute for a Patient identifier of that system)."""

    def __init__(
        self, org: str, secret: bytes, member_system: str, payer_ids: tuple[str, ...] = ()
    ) -> None:
        self.org = org
        self._secret = secret
        self.member_system = member_system
        self._ids = {org, *payer_ids}

    def payer_org(self, payer_id: str) -> str | None:
        return self.org if payer_id in self._ids else None

    def member_handle(self, payer_org: str, member_id: str) -> str | None:
        if payer_org != self.org or not member_id:
            return None
        return member_handle(self._secret, self.member_system, member_id)


def member_system_of(org: str) -> str:
    """The default member id system of a payer organisation's node."""
    return f"urn:careledger:{org}:member"


class Evaluator(Protocol):
    """The fingerprint service's evaluation for an organisation
    (:class:`~careledger.payer.fingerprints.FingerprintService`,
    :class:`~careledger.payer.claims.oprf_node.NodeFingerprints`)."""

    async def evaluate(self, org: str, elements: Sequence[bytes]) -> list[bytes]: ...


def add_claim_routes(
    app: FastAPI,
    pas: PriorAuthService,
    desk: ClaimsDesk,
    directory: ClaimDirectory,
    *,
    remittance: RemittanceDesk | None = None,
    fingerprints: Evaluator | None = None,
    max_x12_bytes: int = DEFAULT_MAX_X12_BYTES,
) -> None:
    """Add the claim routes to the node's FastAPI ``app``, after
    :func:`careledger.payer.routes.add_payer_routes`: its ``Claim/$submit`` dispatches by use
    and hands PAS requests to ``pas``, so it takes the PAS route's place (same position, one
    operation in the OpenAPI document)."""
    gateway: Gateway = pas.gateway
    org = pas.org
    remit = remittance or RemittanceDesk(desk, org)
    limits = Limits(max_bytes=max_x12_bytes)

    async def check_partner(submitter: str) -> None:
        """Claims come from the payer's trading partners (``plans.admit``) or its own users."""
        if submitter == org:
            return
        partners = await gateway.evaluate("plans", "partners", [org])
        if not any(p["submitter"] == submitter and p["active"] for p in partners or []):
            raise AccessDenied(f"{org} does not accept claims from {submitter}")

    async def submit(_r: Request, member: MemberCert, body: bytes) -> Any:
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            decoded = None
        if claim_use(decoded) != "claim":  # PAS answers every other shape, errors included
            return await pas.submit(body, member.org)
        parsed = parse_claim(decoded, org, pas.secret)
        await check_partner(member.org)
        payee = _payee_name(decoded)
        outcome = await desk.adjudicate(
            parsed.claim, parsed.parties, submitter=member.org, payee_name=payee
        )
        response = claim_response(outcome.adjudication, parsed.claim)
        if outcome.cross_payer_duplicates:
            response["processNote"] = [
                {
                    "type": "display",
                    "text": "the same service was recorded first by "
                    + ", ".join(outcome.cross_payer_duplicates),
                }
            ]
        return response

    async def receive_x12(request: Request) -> Response:
        try:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_x12_bytes:
                raise PayloadTooLarge(f"an X12 file over {max_x12_bytes} bytes")
            body = await request.body()
            member = caller(request, body, gateway)  # who, before what: 401 before 415
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != EDI_X12:
                raise UnsupportedMediaType(f"send the 837 as {EDI_X12}")
            if len(body) > max_x12_bytes:
                raise PayloadTooLarge(f"an X12 file over {max_x12_bytes} bytes")
            await check_partner(member.org)
            receipt = await desk.receive_837(
                io.BytesIO(body), directory, submitter=member.org, limits=limits
            )
        except X12Error as exc:
            if exc.code == "too-large":
                return error_response(PayloadTooLarge(str(exc)))
            return error_response(exc)
        except CareLedgerError as exc:
            return error_response(exc)
        return JSONResponse(
            {
                "ack999": receipt.ack_999.decode("ascii"),
                "status277ca": receipt.status_277ca.decode("ascii"),
                "acceptedSets": receipt.accepted_sets,
                "rejectedSets": receipt.rejected_sets,
                "claims": [
                    {
                        "claimKey": o.adjudication.claim_key,
                        "payerClaimControlNumber": o.adjudication.payer_claim_control_number,
                        "disposition": o.adjudication.disposition,
                        "paidCents": o.adjudication.paid_cents,
                        "patientResponsibilityCents": o.adjudication.patient_responsibility_cents,
                        "crossPayerDuplicates": o.cross_payer_duplicates,
                        "fingerprintsRecorded": o.fingerprints_recorded,
                    }
                    for o in receipt.outcomes
                ],
            }
        )

    async def remittance_835(request: Request, member: MemberCert, _b: bytes) -> Any:
        npi = str(request.path_params.get("npi", ""))
        if not _NPI.match(npi):
            raise InvalidInput("npi: a 10-digit National Provider Identifier")
        try:
            day = day_number(str(request.path_params.get("date", "")))
        except ValueError:
            raise InvalidInput("date: YYYY-MM-DD (the adjudication day)") from None
        submitter = None if member.org == org else member.org
        found = await remit.payee_835(npi, day, submitter=submitter)
        return Response(
            found.x12,
            media_type=EDI_X12,
            headers={"X-CareLedger-Trace": found.trace_number},
        )

    async def explanations(request: Request) -> Response:
        try:
            member = caller(request, b"", gateway)
            require_own_user(member, org, "read its members' EOBs")
            patient = request.query_params.get("patient", "")
            system, _, value = patient.rpartition("|")
            if not value or len(value) > 80:
                raise InvalidInput("patient: the member id, as system|value or value")
            system = system or (
                directory.member_system if isinstance(directory, NodeClaimDirectory) else ""
            )
            handle = member_handle(pas.secret, system, value)
            eobs = await remit.explanations(handle, patient=f"Patient/{handle}")
        except CareLedgerError as exc:
            return fhir_error(exc)
        return fhir_ok(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(eobs),
                "entry": [{"resource": e, "search": {"mode": "match"}} for e in eobs],
            }
        )

    async def review(request: Request, member: MemberCert, body: bytes) -> Any:
        require_own_user(member, org, "review its pended claims")
        claim_key = str(request.path_params.get("claim_key", ""))
        if not _CLAIM_KEY.match(claim_key):
            raise InvalidInput("claim_key: the claim's ledger key (64 hex digits)")
        duplicate = json_object(body).get("duplicate")
        if not isinstance(duplicate, bool):
            raise InvalidInput("duplicate: true (deny the suspect lines, OA 18) or false")
        adjudication = await desk.review(claim_key, duplicate=duplicate)
        return {
            "claimKey": adjudication.claim_key,
            "payerClaimControlNumber": adjudication.payer_claim_control_number,
            "disposition": adjudication.disposition,
            "paidCents": adjudication.paid_cents,
            "patientResponsibilityCents": adjudication.patient_responsibility_cents,
        }

    async def evaluate(_r: Request, member: MemberCert, body: bytes) -> Any:
        if fingerprints is None:
            raise InvalidInput(f"{org} does not run the fingerprint service")
        elements = json_object(body).get("elements")
        if not isinstance(elements, list) or not all(isinstance(e, str) for e in elements):
            raise InvalidInput("elements: a list of base64url group elements")
        try:
            raw = [base64.urlsafe_b64decode(e + "=" * (-len(e) % 4)) for e in elements]
        except ValueError:
            raise InvalidInput("elements: base64url") from None
        evaluated = await fingerprints.evaluate(member.org, raw)
        return {"elements": [base64.urlsafe_b64encode(e).decode().rstrip("=") for e in evaluated]}

    fhir: list[str | Enum] = ["fhir"]
    tags: list[str | Enum] = ["payer"]
    any_member, own = access(Rule.MEMBER), access(Rule.OWN_ORG)
    _replace_route(app, "/fhir/Claim/$submit", fhir_route(gateway, submit), fhir)
    app.add_api_route(
        "/payer/x12", receive_x12, methods=["POST"], tags=tags, openapi_extra=any_member
    )
    app.add_api_route(
        "/payer/remittance/{npi}/{date}",
        json_route(gateway, remittance_835),
        methods=["GET"],
        tags=tags,
        openapi_extra=any_member,
    )
    app.add_api_route(
        "/fhir/ExplanationOfBenefit", explanations, methods=["GET"], tags=fhir, openapi_extra=own
    )
    app.add_api_route(
        "/payer/claims/{claim_key}/review",
        json_route(gateway, review),
        methods=["POST"],
        tags=tags,
        openapi_extra=own,
    )
    if fingerprints is not None:
        app.add_api_route(
            "/payer/fingerprints/evaluate",
            json_route(gateway, evaluate),
            methods=["POST"],
            tags=tags,
            openapi_extra=any_member,
        )


def _payee_name(bundle: Any) -> str:
    """The billing provider's name when the Claim's provider is an entry with one."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    claim = entries[0].get("resource") if entries else None
    ref = (claim or {}).get("provider", {}).get("reference") if isinstance(claim, dict) else None
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("fullUrl") == ref:
            name = (entry.get("resource") or {}).get("name")
            return name[:60] if isinstance(name, str) else ""
    return ""


def _replace_route(
    app: FastAPI,
    path: str,
    endpoint: Callable[[Request], Awaitable[Response]],
    tags: list[str | Enum],
) -> None:
    """Add a POST route at ``path``, in the place of one already there (the PAS route)."""
    routes = app.router.routes
    existing = [
        i
        for i, r in enumerate(routes)
        if isinstance(r, APIRoute) and r.path == path and "POST" in (r.methods or ())
    ]
    # Claims and prior authorizations alike: any member may submit (docs/security.md).
    app.add_api_route(
        path, endpoint, methods=["POST"], tags=tags, openapi_extra=access(Rule.MEMBER)
    )
    if existing:
        added = routes.pop()
        routes[existing[0]] = added
        app.openapi_schema = None
