"""Who may call each HTTP route: one declared rule per route, in the OpenAPI document.

Every route of every CareLedger HTTP API (node, FHIR, wallet, and those that land later) declares
its rule with :func:`access`, which puts it in the route's OpenAPI operation as
``x-careledger-auth``::

    @app.get("/v1/state", openapi_extra=access(Rule.MEMBER))

:func:`require_rules` runs when an application is built and raises :class:`UndeclaredAccess`
naming any route without a rule (hidden and plain Starlette routes included), so a new route
cannot be served until it says who may call it;
``tests/security/test_route_access.py`` then calls every route of a running node as an anonymous
caller, a member of another organisation and a revoked member and holds each route to its rule.
docs/security.md has the table.

Not for: checking the rule. The rule says what the route's own authentication does
(:mod:`careledger.api.auth`, the node's ``FhirAuth``, the wallet's bearer token); it is a
declaration the tests hold the code to, not a second gate.
"""

from __future__ import annotations

import enum
from typing import Any

from careledger.errors import CareLedgerError

AUTH_KEY = "x-careledger-auth"


class Rule(enum.StrEnum):
    """Who may call a route."""

    OPEN = "open"
    """Anyone, without credentials: reveals nothing a member would not publish (health, did:web,
    the API description)."""
    SIGNED_PROPOSAL = "signed-proposal"
    """The body is a proposal signed by a current consortium member (any organisation); the
    creator's certificate, revocation and signature are checked before anything runs."""
    MEMBER = "member"
    """A signed request (``X-CareLedger-*`` headers) by a current member of any organisation:
    the shared ledger, which every organisation holds a copy of anyway."""
    OWN_ORG = "own-org"
    """A signed request by a current member of the node's own organisation (or, with
    ``[fhir] allow_unsigned``, an unsigned request from the trusted front end)."""
    CONSENT = "consent"
    """Own organisation as :data:`OWN_ORG`; a current member of another organisation may read
    and search only, and is served what the patient's consent on the ledger allows."""
    BEARER = "bearer"
    """The wallet's bearer token (one holder, on the same machine)."""
    SESSION = "session"
    """A web UI page or form (``/ui``): a signed session cookie of the page's role, obtained by
    DID authentication (patients) or a member's signed login (staff); without one a page
    redirects to sign-in (303) and another role's session gets 403. Every form, the sign-in
    forms included, needs the session's CSRF token (403 without). Signed API headers open no
    page."""


class UndeclaredAccess(CareLedgerError):
    """A route of an HTTP API declares no access rule (or an unknown one)."""


def access(rule: Rule) -> dict[str, Any]:
    """The ``openapi_extra`` of a route callable under ``rule``."""
    return {AUTH_KEY: rule.value}


def rules_of(openapi: dict[str, Any]) -> dict[tuple[str, str], Rule | None]:
    """``(METHOD, path) -> rule`` for every operation of an OpenAPI document (None: undeclared
    or not a :class:`Rule`)."""
    found: dict[tuple[str, str], Rule | None] = {}
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or method.startswith("x-"):
                continue
            value = operation.get(AUTH_KEY)
            declared = [rule for rule in Rule if rule.value == value]
            found[(method.upper(), path)] = declared[0] if declared else None
    return found


def _framework_paths(app: Any) -> set[str]:
    """The FastAPI application's own routes: its OpenAPI document and the pages showing it."""
    names = ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")
    return {path for path in (getattr(app, n, None) for n in names) if path}


def undeclared(app: Any) -> list[str]:
    """``METHOD path`` of every route of the FastAPI ``app`` that declares no rule, hidden
    (``include_in_schema=False``) and plain Starlette routes included; mounted applications are
    checked where they are built."""
    framework = _framework_paths(app)
    missing = []
    for route in app.routes:
        methods = getattr(route, "methods", None)
        if not methods or route.path in framework:
            continue  # a mount, a websocket, or the framework's description of the API
        extra = getattr(route, "openapi_extra", None) or {}
        if not any(rule.value == extra.get(AUTH_KEY) for rule in Rule):
            missing += [f"{m} {route.path}" for m in sorted(methods) if m != "HEAD"]
    return sorted(missing)


def require_rules(app: Any) -> None:
    """Raise :class:`UndeclaredAccess` unless every route of the FastAPI ``app`` declares a
    rule (:func:`undeclared`)."""
    missing = undeclared(app)
    if missing:
        raise UndeclaredAccess(
            f"{app.title}: routes without an access rule: {', '.join(missing)} "
            "(declare one: openapi_extra=access(Rule...), see docs/security.md)"
        )
