"""HTTP plumbing shared by the payer routes: the signed caller, FHIR and JSON error bodies, and
route wrappers that authenticate, delegate and answer.

A wrapped handler gets ``(request, member, body)``; :func:`public_fhir_route` wraps a handler
that needs no caller (the public provider directory).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from careledger.api.app import error_response
from careledger.api.auth import check_request
from careledger.errors import AccessDenied, CareLedgerError, InvalidInput, UnsupportedMediaType
from careledger.fhir.outcome import operation_outcome, outcome_for
from careledger.identity.msp import MemberCert, Role
from careledger.node.gateway import Gateway
from careledger.payer.pas.bundles import PasBundleInvalid

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = (FHIR_JSON, "application/json", "application/json+fhir")


def caller(request: Request, body: bytes, gateway: Gateway) -> MemberCert:
    """The consortium member who signed ``request`` (NotAuthenticated otherwise)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    membership = gateway.peer.validator.membership()
    return check_request(membership, request.method, target, request.headers, body)


def require_own_user(member: MemberCert, org: str, what: str) -> None:
    """The ``own-org`` rule (docs/security.md): a client or admin member of ``org`` — not another
    organisation's, and not a peer's or orderer's key, which lives on a server."""
    if member.org != org or member.role not in (Role.CLIENT, Role.ADMIN):
        raise AccessDenied(f"only {org}'s own users (client or admin members) {what}")


def fhir_error(error: BaseException) -> Response:
    if isinstance(error, PasBundleInvalid):
        status, body = 400, operation_outcome(error.issues())
    else:
        status, body = outcome_for(error)
    return Response(msgspec.json.encode(body), status, media_type=FHIR_JSON)


def fhir_ok(body: Any) -> Response:
    return Response(msgspec.json.encode(body), 200, media_type=FHIR_JSON)


Handler = Callable[[Request, MemberCert, bytes], Awaitable[Any]]


def _named(
    route: Callable[[Request], Awaitable[Response]], handler: Callable[..., Any]
) -> Callable[[Request], Awaitable[Response]]:
    """The OpenAPI operation takes the handler's name and docstring (not its signature, which
    FastAPI would read as parameters)."""
    route.__name__ = handler.__name__
    route.__qualname__ = handler.__qualname__
    route.__doc__ = handler.__doc__
    return route


def fhir_route(gateway: Gateway, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        try:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media and media not in _JSON_TYPES:
                raise UnsupportedMediaType(f"content type {media[:60]!r}: FHIR JSON expected")
            body = await request.body()
            member = caller(request, body, gateway)
            return fhir_ok(await handler(request, member, body))
        except CareLedgerError as exc:
            return fhir_error(exc)

    return _named(route, handler)


def json_route(gateway: Gateway, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        try:
            body = await request.body()
            member = caller(request, body, gateway)
            result = await handler(request, member, body)
        except CareLedgerError as exc:
            return error_response(exc)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return _named(route, handler)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body is a JSON object")
    return value


def public_fhir_route(
    handler: Callable[[Request], Awaitable[Any]],
) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        try:
            return fhir_ok(await handler(request))
        except CareLedgerError as exc:
            return fhir_error(exc)

    return _named(route, handler)
