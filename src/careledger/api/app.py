"""The node's HTTP application: routes that parse, authenticate and delegate to
:class:`~careledger.api.service.NodeService`.

Every error becomes ``{"error": ..., "type": ...}`` with the status from
:func:`careledger.api.errors.status_of` (which defers to :func:`careledger.errors.http_status`);
an unexpected exception is logged and answered with a 500 without internals, so a hostile
request never takes the node down. Bodies over ``max_body_bytes`` are refused (413) before the
application reads them. Routes are documented in ``docs/api.md`` (a test keeps them in step).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from careledger import __version__
from careledger.access import Rule, access, require_rules
from careledger.api.auth import IDENTITY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, check_request
from careledger.api.codec import b64d
from careledger.api.contexts import add_context_routes
from careledger.api.errors import error_body, status_of
from careledger.api.models import (
    BlockOut,
    EndorseOut,
    ErrorOut,
    EvaluateOut,
    HealthOut,
    SignedProposal,
    StateOut,
    SubmitBatchIn,
    SubmitBatchOut,
    SubmitOut,
    TxOut,
)
from careledger.api.service import NodeService
from careledger.api.status_list_tokens import add_status_list_token_routes
from careledger.api.submit_batch import Entry, submit_batch
from careledger.errors import CareLedgerError, InvalidInput, NotFound
from careledger.httpguard import RequestGuard
from careledger.identity.did.keys import PublicKey
from careledger.identity.did.web_method import did_web_for, render_did_json
from careledger.identity.msp import MemberCert
from careledger.ledger.transaction import MAX_PROPOSAL_BYTES

log = logging.getLogger("careledger.api")

#: Default request body limit: a largest proposal in base64url inside JSON, with room to spare.
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
_MAX_BLOCK_NUMBER = 2**53
_TX_ID = r"^[0-9a-f]{64}$"


def error_response(error: BaseException) -> JSONResponse:
    """The one place an exception becomes an HTTP response."""
    status = status_of(error)
    if status >= 500 and not isinstance(error, CareLedgerError):
        log.error("unexpected error answering a request", exc_info=error)
    return JSONResponse(error_body(error), status_code=status)


def install_error_handlers(
    app: FastAPI, on_error: Callable[[CareLedgerError], JSONResponse] = error_response
) -> None:
    """JSON errors for a CareLedger FastAPI app: ``on_error`` for CareLedger errors, a clean 400
    for request validation, and the framework's own status for routing outcomes."""

    @app.exception_handler(CareLedgerError)
    async def _ledger_error(_request: Request, exc: CareLedgerError) -> JSONResponse:
        return on_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        return error_response(InvalidInput(f"invalid request: {problems}"))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        # Routing outcomes of the framework (no such route, wrong method): their own status.
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return JSONResponse({"error": str(exc.detail), "type": kind}, exc.status_code)


class NodeApp(RequestGuard):
    """The node API as served: body size limit and a JSON error for anything that escapes,
    around the FastAPI application (``.app``)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        super().__init__(app, max_body_bytes, error_response)


def _signed(body: SignedProposal) -> tuple[bytes, bytes]:
    return (
        b64d(body.proposal, "proposal", MAX_PROPOSAL_BYTES),
        b64d(body.signature, "signature", 64),
    )


def _entries(body: SubmitBatchIn) -> list[Entry]:
    out: list[Entry] = []
    for item in body.items:
        try:
            out.append(_signed(item))
        except CareLedgerError as exc:  # refused on its own: the other entries go on
            out.append(exc)
    return out


def _service(request: Request) -> NodeService:
    service: NodeService = request.app.state.service
    return service


async def member(
    request: Request,
    identity: Annotated[str | None, Header(alias=IDENTITY_HEADER)] = None,
    timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> MemberCert:
    """A signed request from a consortium member (the headers are read from ``request``)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    return check_request(
        _service(request).membership(),
        request.method,
        target,
        request.headers,
        await request.body(),
    )


Member = Annotated[MemberCert, Depends(member)]


def create_app(
    service: NodeService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    did_web_host: str = "",
) -> NodeApp:
    """The node API for ``service``, wrapped in the body-limit and error guard (an ASGI app).

    With ``did_web_host`` (e.g. ``hospital.example``) it serves the organisation's did:web
    document at ``/.well-known/did.json``."""
    app = FastAPI(
        title=f"CareLedger node API ({service.org})",
        version=__version__,
        description="One organisation's node: submit, evaluate, endorse, blocks, transactions, "
        "commit events. See docs/api.md for authentication.",
        responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 500: {"model": ErrorOut}},
    )

    install_error_handlers(app)
    add_context_routes(app)  # public JSON-LD contexts (careledger.api.contexts)
    add_status_list_token_routes(app, service)  # public status list tokens

    @app.get("/v1/health", tags=["node"], openapi_extra=access(Rule.OPEN))
    async def health() -> HealthOut:
        """Liveness and height; open to anyone."""
        return service.health()

    @app.get(
        "/.well-known/did.json",
        tags=["node"],
        openapi_extra=access(Rule.OPEN),
        response_class=JSONResponse,
        responses={200: {"content": {"application/did+json": {}}}, 404: {"model": ErrorOut}},
    )
    async def did_web() -> JSONResponse:
        """The organisation's did:web document (its root key); open, 404 unless configured."""
        if not did_web_host:
            raise NotFound("this node serves no did:web document (set did_web_host in its config)")
        org = service.membership().orgs.get(service.org)
        if org is None:
            raise NotFound(f"{service.org} is not a consortium member")
        did = did_web_for(did_web_host)
        document = render_did_json(did, [PublicKey.ed25519(org.root_key)])
        return JSONResponse(document, media_type="application/did+json")

    @app.post("/v1/endorse", tags=["transactions"], openapi_extra=access(Rule.SIGNED_PROPOSAL))
    async def endorse(body: SignedProposal) -> EndorseOut:
        """Simulate a signed proposal on this node's peer and sign the result (for gateways)."""
        return service.endorse(*_signed(body))

    @app.post("/v1/submit", tags=["transactions"], openapi_extra=access(Rule.SIGNED_PROPOSAL))
    async def submit(body: SignedProposal) -> SubmitOut:
        """Endorse across organisations, order, and wait until this node commits it."""
        return await service.submit(*_signed(body))

    @app.post("/v1/submit-batch", tags=["transactions"], openapi_extra=access(Rule.MEMBER))
    async def submit_many(_member: Member, body: SubmitBatchIn) -> SubmitBatchOut:
        """Submit many signed proposals in one request (a signed request by a member); one
        outcome per entry, each refused on its own (docs/api.md)."""
        return SubmitBatchOut(items=await submit_batch(service, _entries(body)))

    @app.post("/v1/evaluate", tags=["transactions"], openapi_extra=access(Rule.SIGNED_PROPOSAL))
    async def evaluate(body: SignedProposal) -> EvaluateOut:
        """Run a query function against this node's committed state."""
        return service.evaluate(*_signed(body))

    @app.get("/v1/state", tags=["ledger"], openapi_extra=access(Rule.MEMBER))
    async def state(_member: Member) -> StateOut:
        """Heights, state root and last block hash of this node."""
        return service.state()

    @app.get("/v1/blocks/{number}", tags=["ledger"], openapi_extra=access(Rule.MEMBER))
    async def block(
        _member: Member, number: Annotated[int, Path(ge=0, le=_MAX_BLOCK_NUMBER)]
    ) -> BlockOut:
        """One block with its validation codes and raw bytes."""
        return service.block(number)

    @app.get("/v1/transactions/{tx_id}", tags=["ledger"], openapi_extra=access(Rule.MEMBER))
    async def transaction(_member: Member, tx_id: Annotated[str, Path(pattern=_TX_ID)]) -> TxOut:
        """Where a transaction committed, its code and its envelope."""
        return service.transaction(tx_id)

    @app.get(
        "/v1/events",
        tags=["ledger"],
        openapi_extra=access(Rule.MEMBER),
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        reader: Member, start: Annotated[int, Query(ge=0, le=_MAX_BLOCK_NUMBER)] = 0
    ) -> StreamingResponse:
        """Server-sent events: one ``commit`` event per block from ``start`` on; the stream
        ends when its reader's membership is revoked."""
        stream = service.commit_events(start, reader)

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for event in stream:
                    if event is None:
                        yield b": keep-alive\n\n"
                    else:
                        data = event.model_dump_json()
                        yield f"id: {event.block}\nevent: commit\ndata: {data}\n\n".encode()
            finally:
                await stream.aclose()

        return StreamingResponse(
            lines(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    app.state.service = service
    require_rules(app)
    return NodeApp(app, max_body_bytes)
