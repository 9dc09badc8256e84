"""Who is looking at a page: signed-cookie sessions, roles and CSRF tokens.

A session is a small dict signed with :mod:`itsdangerous` (timestamped, 8 h) in one cookie,
``HttpOnly``, ``SameSite=Strict``, ``Path=/ui`` and ``Secure`` whenever the node serves HTTPS
(on plain ``http://127.0.0.1`` browsers drop Secure cookies, so it is off there). Every visitor
gets one, logged in or not, so that the login forms carry a CSRF token too. It holds the role,
the subject (a patient's DID or a member label ``Org1.client0``), the CSRF token, and short
working values a page must not put in a URL (the patient a provider looked up). Never PHI.

:class:`SessionCookies` is ASGI middleware: it reads the cookie into the request scope and
writes it back when a route changed the session. Routes call :func:`require` for their role
(anonymous → redirect to the login page, another role → 403) and :func:`read_form` for every
POST, which refuses a form without the session's CSRF token (403) before anything else runs.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Literal
from urllib.parse import parse_qsl

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("careledger.web")

COOKIE = "careledger_ui"
SCOPE_KEY = "careledger.ui.session"
MAX_AGE = 8 * 3600
MAX_FORM_BYTES = 64 * 1024
CSRF_FIELD = "csrf"

Role = Literal["patient", "provider", "operator", "payer", "sponsor"]
ROLES: tuple[Role, ...] = ("patient", "provider", "operator", "payer", "sponsor")


class LoginRequired(Exception):
    """No one is logged in: the page redirects to the login page for ``role``."""

    def __init__(self, role: Role) -> None:
        super().__init__(role)
        self.role = role


class Forbidden(Exception):
    """Logged in, but this page is another role's (or a form without a valid CSRF token)."""


@dataclass
class Session:
    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False

    @property
    def role(self) -> Role | None:
        role = self.data.get("role")
        return role if role in ROLES else None

    @property
    def subject(self) -> str:
        return str(self.data.get("sub", ""))

    @property
    def csrf(self) -> str:
        token = self.data.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(24)
            self.data["csrf"] = token
            self.dirty = True
        return token

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        if self.data.get(key) != value:
            self.data[key] = value
            self.dirty = True

    def pop(self, key: str) -> Any:
        if key in self.data:
            self.dirty = True
        return self.data.pop(key, None)

    def login(self, role: Role, subject: str, **extra: str) -> None:
        """A fresh session (new CSRF token) for ``subject``: nothing of the previous one stays."""
        self.data = {"role": role, "sub": subject, "csrf": secrets.token_urlsafe(24), **extra}
        self.dirty = True

    def logout(self) -> None:
        self.data = {"csrf": secrets.token_urlsafe(24)}
        self.dirty = True

    def flash(self, message: str) -> None:
        self.set("flash", message[:300])


class SessionCookies:
    """ASGI middleware: the signed session cookie in, and out when it changed."""

    def __init__(self, app: ASGIApp, secret: bytes, *, secure: bool, path: str = "/ui") -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="careledger-ui-session")
        self.secure = secure
        self.path = path

    def _load(self, scope: Scope) -> Session:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # a malformed Cookie header is no session
                    continue
                morsel = jar.get(COOKIE)
                if morsel is None:
                    continue
                try:
                    data = self.serializer.loads(morsel.value, max_age=MAX_AGE)
                except BadSignature:
                    return Session(dirty=True)
                if isinstance(data, dict):
                    return Session(data)
        return Session(dirty=True)

    def cookie(self, session: Session) -> str:
        value = self.serializer.dumps(session.data)
        parts = [
            f"{COOKIE}={value}",
            f"Path={self.path}",
            f"Max-Age={MAX_AGE}",
            "HttpOnly",
            "SameSite=Strict",
        ]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = self._load(scope)
        _ = session.csrf  # every visitor has a token for the forms
        scope[SCOPE_KEY] = session

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if session.dirty:
                    headers = MutableHeaders(scope=message)
                    headers.append("set-cookie", self.cookie(session))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # Starlette answers 500 and re-raises so that the server logs the traceback; its
            # message could quote someone's data, so it stops here, logged by type only.
            log.error("UI request failed: %s", type(exc).__name__)
            if not started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Something went wrong."})


def session_of(request: Request) -> Session:
    session = request.scope.get(SCOPE_KEY)
    if not isinstance(session, Session):
        raise RuntimeError("the UI app runs behind SessionCookies")
    return session


def require(request: Request, role: Role) -> Session:
    """The session, if it is ``role``'s; else :class:`LoginRequired` or :class:`Forbidden`.
    A staff session whose member certificate was revoked (or whose organisation left the
    consortium) since sign-in is ended here, on its next page."""
    session = session_of(request)
    if session.role is None:
        raise LoginRequired(role)
    if session.role != role:
        raise Forbidden(f"this page is for the {role} role")
    serial = session.get("serial")
    if isinstance(serial, str) and serial.isdigit():
        org = session.subject.split(".", 1)[0]
        membership = request.app.state.ui.node.membership()
        if org not in membership.orgs or (org, int(serial)) in membership.revoked:
            session.logout()
            raise LoginRequired(role)
    return session


async def read_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded form of a POST, after checking its CSRF token (403 without a valid one)."""
    session = session_of(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise Forbidden("forms are posted urlencoded, with their CSRF token")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Forbidden("form too large")
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, []).append(value)
    token = (form.get(CSRF_FIELD) or [""])[0]
    expected = session.data.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(token, expected):
        raise Forbidden("the form's CSRF token is missing or not this session's; reload the page")
    return form


def first(form: dict[str, list[str]], key: str, default: str = "") -> str:
    return (form.get(key) or [default])[0].strip()
