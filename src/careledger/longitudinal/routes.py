"""What a node adds to the FHIR API it serves at ``/fhir``: enrolment over HTTP and the
``$everything`` wiring to the other organisations' nodes.

* ``POST /Patient/{id}/$enrol`` (:func:`add_enrol_route`): an own user of the organisation links
  the local Patient to the patient's DID and locator handle, with the patient's signature over
  :func:`~careledger.longitudinal.ledger.enrolment_payload`; the patient's resources are then
  indexed on the ledger (:meth:`~careledger.longitudinal.ledger.ProviderLedger.enrol`).
* ``$everything`` (:func:`holder_endpoints`): each other organisation's part is fetched from its
  node's ``/fhir`` (``[peers]`` URL + ``/fhir``) with requests signed by this node's own member
  identity (:class:`SignedRequests`), so the holder's node authenticates the requesting
  organisation and enforces the patient's consent for it.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Callable, Generator, Mapping

import httpx
import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from careledger.api.auth import sign_request
from careledger.contracts.phi_guard import DID_PATTERN, HANDLE_PATTERN
from careledger.errors import InvalidInput, UnsupportedMediaType
from careledger.fhir.errors import AccessDenied
from careledger.fhir.resources import JSON, check_id
from careledger.fhir.service import FhirService
from careledger.identity.msp import LocalIdentity
from careledger.longitudinal.everything import HolderEndpoint
from careledger.longitudinal.ledger import ProviderLedger

ENROL_PATH = "/Patient/{resource_id}/$enrol"
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_DID = re.compile(DID_PATTERN)
_HANDLE = re.compile(HANDLE_PATTERN)
_MAX_SIGNATURE_TEXT = 256


class SignedRequests(httpx.Auth):
    """Signs every request like the node API's signed requests (docs/api.md), as ``identity``."""

    requires_request_body = True

    def __init__(self, identity: LocalIdentity) -> None:
        self.identity = identity

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        request.headers.update(sign_request(self.identity, request.method, target, request.content))
        yield request


def holder_endpoints(
    peers: Mapping[str, str],
    identity: LocalIdentity,
    *,
    timeout: float = 10.0,
    verify: ssl.SSLContext | bool = True,
) -> tuple[httpx.AsyncClient, dict[str, HolderEndpoint]]:
    """One signing client, and each peer organisation's FHIR endpoint (``<url>/fhir``)."""
    client = httpx.AsyncClient(auth=SignedRequests(identity), timeout=timeout, verify=verify)
    endpoints = {
        org: HolderEndpoint(url.rstrip("/") + "/fhir", client) for org, url in peers.items()
    }
    return client, endpoints


class _Param(msgspec.Struct):
    name: str
    valueString: str | None = None
    valueUri: str | None = None
    valueBase64Binary: str | None = None


class _Parameters(msgspec.Struct):
    resourceType: str
    parameter: list[_Param] = []


def parse_enrolment(body: bytes) -> tuple[str, str, bytes]:
    """(did, handle, signature) from an enrolment ``Parameters`` resource; InvalidInput else."""
    try:
        params = msgspec.json.decode(body, type=_Parameters)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInput(f"$enrol takes a Parameters resource: {exc}") from None
    if params.resourceType != "Parameters":
        raise InvalidInput("$enrol takes a Parameters resource")
    values: dict[str, str | None] = {}
    for p in params.parameter:
        if p.name in values:
            raise InvalidInput(f"parameter {p.name[:40]!r} given twice")
        if p.name == "did":
            values[p.name] = p.valueUri
        elif p.name == "handle":
            values[p.name] = p.valueString
        elif p.name == "signature":
            values[p.name] = p.valueBase64Binary
        else:
            raise InvalidInput(f"$enrol has no parameter {p.name[:40]!r}")
    did, handle, signature = values.get("did"), values.get("handle"), values.get("signature")
    if did is None or not _DID.match(did):
        raise InvalidInput("parameter 'did' (valueUri): the patient's did:careledger or did:key")
    if handle is None or not _HANDLE.match(handle):
        raise InvalidInput("parameter 'handle' (valueString): the patient's locator handle")
    if signature is None or len(signature) > _MAX_SIGNATURE_TEXT:
        raise InvalidInput("parameter 'signature' (valueBase64Binary): the patient's signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("parameter 'signature': not base64") from None
    return did, handle, raw


def add_enrol_route(
    app: FastAPI,
    service: FhirService,
    ledger: ProviderLedger,
    requester: Callable[[Request], str | None],
) -> None:
    """``POST /Patient/{id}/$enrol`` on the FHIR API ``app`` (the FastAPI inside the guard)."""

    async def enrol(resource_id: str, request: Request) -> Response:
        """Link a local Patient to the patient's DID and handle (own users only)."""
        if requester(request) is not None:
            raise AccessDenied("only the organisation's own users may enrol its patients")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in _JSON_TYPES:
            raise UnsupportedMediaType("$enrol takes application/fhir+json")
        did, handle, signature = parse_enrolment(await request.body())
        patient = f"Patient/{check_id(resource_id)}"
        await run_in_threadpool(service.read, "Patient", resource_id)  # 404 / 410
        linked = ledger.directory.by_patient(patient)
        if linked is not None and not linked.erased and linked.did != did:
            raise InvalidInput(f"{patient} is already enrolled with another DID")
        other = ledger.directory.by_did(did)
        if other is not None and not other.erased and other.patient != patient:
            raise InvalidInput("that DID is already enrolled as another patient here")
        indexed = await ledger.enrol(service, patient, did, handle, signature)
        body: JSON = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "patient", "valueReference": {"reference": patient}},
                {"name": "indexed", "valueInteger": indexed},
            ],
        }
        return Response(msgspec.json.encode(body), 200, media_type="application/fhir+json")

    app.add_api_route(ENROL_PATH, enrol, methods=["POST"], tags=["fhir"])
