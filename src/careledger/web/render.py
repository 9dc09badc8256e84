"""Rendering pages: the Jinja2 environment (autoescape on, always), the page response with
security headers, and small formatting filters.

Every page goes through :func:`page`, which adds the session's CSRF token, the navigation of
the logged-in role and a one-shot flash message. Headers on every UI response: a Content
Security Policy allowing only this origin's scripts, styles and images (no inline script, no
CDN), ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and ``Cache-Control:
no-store`` (pages show personal data; nothing is kept by shared caches or the back button).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from careledger.web.registry import view_for
from careledger.web.sessions import session_of

HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(text: Any, keep: int = 12) -> str:
    value = str(text)
    return value if len(value) <= keep + 1 else value[:keep] + "…"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["short"] = _short
    return env


ENV = _environment()


def svg(markup: str) -> Markup:
    """Mark an SVG built by :mod:`careledger.web.charts` (which escapes its text) as safe."""
    return Markup(markup)


def page(
    request: Request, template: str, title: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """``template`` rendered with the session, navigation and flash; ``title`` never holds PHI."""
    session = session_of(request)
    view = view_for(session.role)
    flash = session.pop("flash")
    html = ENV.get_template(template).render(
        title=title,
        csrf=session.csrf,
        role=session.role,
        subject=session.subject,
        nav=view.nav if view is not None and view.listed else (),
        flash=flash,
        org=request.app.state.ui.org,
        **values,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def fragment(request: Request, template: str, **values: Any) -> HTMLResponse:
    """A partial for htmx (same escaping; no layout)."""
    session = session_of(request)
    html = ENV.get_template(template).render(csrf=session.csrf, **values)
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def wants_fragment(request: Request) -> bool:
    """An htmx request that asked for a part of the page (not a boosted full navigation)."""
    return request.headers.get("hx-request") == "true" and "hx-boosted" not in request.headers
