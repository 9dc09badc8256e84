"""The FHIR R4 REST API of one organisation: routes that parse HTTP and delegate to
:class:`~careledger.fhir.service.FhirService`.

``create_app(service)`` returns an ASGI app to serve on its own or to mount into the node API
(``node_app.mount("/fhir", create_app(service, base_url=".../fhir"))``). Every error is an
``OperationOutcome`` with the status from :func:`careledger.fhir.errors.status_of`; bodies over
``max_body_bytes`` are refused (413) before they are read; an unexpected exception is logged and
answered with a 500 outcome without internals. Only JSON is served (``application/fhir+json``).

Who is asking: ``requester(request)`` returns another organisation's id, or None for the
organisation's own users; the access policy is consulted for the former. The default trusts no
header and returns None: the node supplies one based on its signed-request authentication.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from careledger.errors import CareLedgerError, InvalidInput
from careledger.fhir.base import StoredVersion
from careledger.fhir.bundles import parse_etag, process_bundle
from careledger.fhir.capability import capability_statement
from careledger.fhir.errors import Issue, ResourceNotFound, UnsupportedMediaType
from careledger.fhir.outcome import information, operation_outcome, outcome_for
from careledger.fhir.resources import PROFILES
from careledger.fhir.service import FhirService, decode_json
from careledger.httpguard import RequestGuard

log = logging.getLogger("careledger.fhir.api")

FHIR_JSON = "application/fhir+json; charset=utf-8"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")

Requester = Callable[[Request], str | None]
Everything = Callable[
    [str | None, list[tuple[str, str]], Mapping[str, str], str | None], Awaitable[Any]
]
"""``Patient/$everything``: (patient id or None at the type level, query parameters, headers,
requesting organisation) -> a Bundle; the longitudinal record
(:mod:`careledger.longitudinal.everything`) provides it."""


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return Response(content, status, headers, media_type=FHIR_JSON)


def error_response(error: BaseException) -> Response:
    """The one place an exception becomes an HTTP response."""
    status, outcome = outcome_for(error)
    if status >= 500 and not isinstance(error, CareLedgerError):
        log.error("unexpected error answering a FHIR request", exc_info=error)
    return fhir_response(outcome, status)


def _no_requester(_request: Request) -> str | None:
    return None


def _version_headers(version: StoredVersion, base_url: str) -> dict[str, str]:
    modified = datetime.fromisoformat(version.last_updated.replace("Z", "+00:00"))
    return {
        "ETag": f'W/"{version.version}"',
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Location": f"{base_url}/{version.resource_type}/{version.id}/_history/{version.version}",
    }


async def _body(request: Request) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in _JSON_TYPES:
        raise UnsupportedMediaType(f"content type {media[:60]!r}: this server takes FHIR JSON")
    return decode_json(await request.body())


def _if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    return parse_etag(value) if value else None


def _type(resource_type: str) -> str:
    if resource_type not in PROFILES:
        raise ResourceNotFound(f"unknown or unsupported resource type {resource_type[:64]!r}")
    return resource_type


def _written(version: StoredVersion, created: bool, request: Request, base_url: str) -> Response:
    headers = _version_headers(version, base_url)
    status = 201 if created else 200
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return Response(None, status, headers)
    if "return=OperationOutcome" in prefer:
        return fhir_response(information("ok"), status, headers)
    return fhir_response(version.content or b"{}", status, headers)


def create_app(
    service: FhirService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    requester: Requester = _no_requester,
    everything: Everything | None = None,
) -> Any:
    """The FHIR API for ``service``, wrapped in the body-limit and error guard (an ASGI app).

    ``everything`` enables ``GET /Patient/{id}/$everything`` and ``GET /Patient/$everything``.
    """
    base = service.base_url
    app = FastAPI(
        title="CareLedger FHIR R4 API",
        description="One organisation's FHIR R4 resources, encrypted at rest. See docs/fhir.md.",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(CareLedgerError)
    async def _ledger_error(_request: Request, exc: CareLedgerError) -> Response:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        return fhir_response(operation_outcome([Issue(code, str(exc.detail))]), exc.status_code)

    @app.get("/metadata", tags=["fhir"])
    async def metadata() -> Response:
        """The CapabilityStatement."""
        return fhir_response(capability_statement(base))

    if everything is not None:
        operation = everything  # routes before /{type}/{id}, which would take "$everything"

        @app.get("/Patient/$everything", tags=["fhir"])
        async def everything_by_identifier(request: Request) -> Response:
            """Another organisation asks this holder for a patient's records (by DID)."""
            params = request.query_params.multi_items()
            return fhir_response(await operation(None, params, request.headers, requester(request)))

        @app.get("/Patient/{resource_id}/$everything", tags=["fhir"])
        async def patient_everything(resource_id: str, request: Request) -> Response:
            """The patient's longitudinal record from every holder, verified on the ledger."""
            params = request.query_params.multi_items()
            return fhir_response(
                await operation(resource_id, params, request.headers, requester(request))
            )

    @app.post("/", tags=["fhir"])
    async def bundle(request: Request) -> Response:
        """A transaction or batch Bundle."""
        body = await _body(request)
        who = requester(request)
        return fhir_response(await run_in_threadpool(process_bundle, service, body, requester=who))

    @app.post("/{resource_type}", tags=["fhir"])
    async def create(resource_type: str, request: Request) -> Response:
        """Create a resource; the server assigns its id."""
        body = await _body(request)
        result = await run_in_threadpool(service.create, _type(resource_type), body)
        return _written(result.version, True, request, base)

    @app.get("/{resource_type}", tags=["fhir"])
    async def search(resource_type: str, request: Request) -> Response:
        """Search (see the CapabilityStatement for parameters)."""
        params = request.query_params.multi_items()
        result = await run_in_threadpool(
            service.search, _type(resource_type), params, requester=requester(request)
        )
        return fhir_response(result)

    @app.post("/{resource_type}/_search", tags=["fhir"])
    async def search_post(resource_type: str, request: Request) -> Response:
        """Search with form-encoded parameters."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType("_search takes application/x-www-form-urlencoded")
        try:
            form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"invalid form body: {exc}") from None
        params = form + request.query_params.multi_items()
        result = await run_in_threadpool(
            service.search, _type(resource_type), params, requester=requester(request)
        )
        return fhir_response(result)

    @app.get("/{resource_type}/_history", tags=["fhir"])
    async def type_history(resource_type: str, request: Request) -> Response:
        """Every version of every resource of the type, newest first."""
        result = await run_in_threadpool(
            service.history,
            _type(resource_type),
            None,
            request.query_params.multi_items(),
            requester=requester(request),
        )
        return fhir_response(result)

    @app.get("/{resource_type}/{resource_id}", tags=["fhir"])
    async def read(resource_type: str, resource_id: str, request: Request) -> Response:
        """The latest version (410 if deleted or erased)."""
        found = service.read(_type(resource_type), resource_id, requester=requester(request))
        return fhir_response(found.content or b"{}", 200, _version_headers(found, base))

    @app.put("/{resource_type}/{resource_id}", tags=["fhir"])
    async def update(resource_type: str, resource_id: str, request: Request) -> Response:
        """Update, or create with this id; ``If-Match`` makes it conditional (412)."""
        body = await _body(request)
        result = await run_in_threadpool(
            service.update, _type(resource_type), resource_id, body, if_match=_if_match(request)
        )
        return _written(result.version, result.created, request, base)

    @app.delete("/{resource_type}/{resource_id}", tags=["fhir"])
    async def delete(resource_type: str, resource_id: str, request: Request) -> Response:
        """Delete (a new version that marks it deleted); 204 whether or not it existed."""
        deleted = await run_in_threadpool(
            service.delete, _type(resource_type), resource_id, if_match=_if_match(request)
        )
        headers = {"ETag": f'W/"{deleted.version}"'} if deleted else None
        return Response(None, 204, headers)

    @app.get("/{resource_type}/{resource_id}/_history", tags=["fhir"])
    async def instance_history(resource_type: str, resource_id: str, request: Request) -> Response:
        """Every version of one resource, newest first."""
        result = await run_in_threadpool(
            service.history,
            _type(resource_type),
            resource_id,
            request.query_params.multi_items(),
            requester=requester(request),
        )
        return fhir_response(result)

    @app.get("/{resource_type}/{resource_id}/_history/{version}", tags=["fhir"])
    async def vread(
        resource_type: str, resource_id: str, version: str, request: Request
    ) -> Response:
        """One version (410 if it is a deletion or was erased)."""
        if not version.isdigit() or len(version) > 9:
            raise ResourceNotFound(f"no version {version[:20]!r}")
        found = service.read(
            _type(resource_type), resource_id, int(version), requester=requester(request)
        )
        return fhir_response(found.content or b"{}", 200, _version_headers(found, base))

    app.state.service = service
    return RequestGuard(app, max_body_bytes, error_response)
