"""The UI application: every registered view's pages, the login pages and static files, behind
signed-cookie sessions, mounted at ``/ui`` in the node's FastAPI app by :func:`mount_ui`.

Errors are pages, not JSON: not logged in → 303 to the login page; another role's page or a
form without its CSRF token → 403; a ledger refusal → its HTTP status with the message
(escaped); anything unexpected → 500, logged by exception type only (a message could quote a
patient's data, and server logs must hold no PHI).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from careledger.access import Rule, access, require_rules
from careledger.errors import CareLedgerError, http_status
from careledger.web import login
from careledger.web.context import UiContext
from careledger.web.registry import view_for, views
from careledger.web.render import HERE, page
from careledger.web.sessions import Forbidden, LoginRequired, SessionCookies, session_of

log = logging.getLogger("careledger.web")
MOUNT = "/ui"


def create_ui_app(ctx: UiContext) -> SessionCookies:
    app = FastAPI(title="CareLedger UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = ctx
    router = app.router  # routes straight on the app: ui_routes() lists them

    @router.get("/", openapi_extra=access(Rule.OPEN))
    async def start(request: Request) -> Response:
        """The start page: sign-in choices, or the logged-in role's home."""
        view = view_for(session_of(request).role)
        if view is not None:
            return RedirectResponse(view.home, status_code=303)
        return page(request, "start.html", "CareLedger")

    login.routes(router, ctx)
    for view in views():
        view.routes(router, ctx)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired) -> Response:
        where = "patient" if exc.role == "patient" else "staff"
        return RedirectResponse(f"{MOUNT}/login/{where}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return page(request, "error.html", "Not allowed", 403, message=str(exc))

    @app.exception_handler(CareLedgerError)
    async def _ledger(request: Request, exc: CareLedgerError) -> Response:
        status = http_status(exc)
        if status >= 500:
            log.error("UI request failed: %s", type(exc).__name__)
        return page(request, "error.html", "Refused", status, message=str(exc)[:300])

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return page(
            request,
            "error.html",
            "Not found" if exc.status_code == 404 else "Error",
            exc.status_code,
            message=str(exc.detail)[:200],
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("UI request failed unexpectedly: %s", type(exc).__name__)
        return page(request, "error.html", "Error", 500, message="Something went wrong.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        return page(
            request, "error.html", "Bad request", 400, message="That address or form is not valid."
        )

    require_rules(app)
    return SessionCookies(app, ctx.session_secret, secure=ctx.secure_cookies, path=MOUNT)


def mount_ui(app: FastAPI, ctx: UiContext) -> None:
    """Serve the UI at ``/ui`` in the node's FastAPI ``app``."""
    app.mount(MOUNT, create_ui_app(ctx))


def ui_routes(ctx: UiContext) -> list[tuple[str, str]]:
    """(method, path) of every UI page, for docs/api.md and its test."""
    inner = create_ui_app(ctx).app
    assert isinstance(inner, FastAPI)
    from fastapi.routing import APIRoute

    found = []
    for route in inner.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                found.append((method, MOUNT + route.path))
    return found
