"""Logging in: patients by DID authentication, organisation staff by a signed member login.

**Patient** (``/ui/login/patient``): the page issues a DID-auth challenge
(:class:`~careledger.credentials.did_auth.ChallengeService`, audience
``careledger:ui:<org>``, 120 s, single use) and remembers its nonce in the session. The
patient's wallet signs it (:func:`careledger.credentials.did_auth.respond`: a compact JWS with a
key under ``authentication`` in their DID document) and the patient pastes the answer; the node
resolves the DID on the ledger and checks signature, audience and nonce. A nonce issued to
another browser session is refused, so an answer cannot be replayed into someone else's
session. In ``careledger demo`` (and tests) the page also offers the synthetic patients'
in-process wallets (:class:`~careledger.web.context.PatientWallets`), which sign the same
challenge the same way.

**Staff** (``/ui/login/staff``): a member of this organisation signs
:func:`staff_login_payload` (domain, audience, nonce) with its member key and pastes its
identity (the signed member certificate) and the signature, both base64url
(:func:`sign_staff_login` does both). The certificate must be a current member of *this*
organisation; ``admin`` members get the operator (explorer) role, ``client`` members the
provider role. Demo keys: :class:`~careledger.web.context.StaffKeys`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from careledger.access import Rule, access
from careledger.credentials.did_auth import Challenge, ChallengeService
from careledger.credentials.ledger import gateway_query, ledger_resolver
from careledger.crypto import encoding
from careledger.crypto.keys import verify
from careledger.errors import MembershipError
from careledger.identity.msp import LocalIdentity, Role
from careledger.web.context import UiContext
from careledger.web.registry import view_for
from careledger.web.render import page
from careledger.web.sessions import first, read_form, session_of

STAFF_DOMAIN = "careledger/ui/staff-login/v1"
CHALLENGE_TTL = 120.0
_ROLE_OF = {Role.ADMIN: "operator", Role.CLIENT: "provider"}
#: The desks a member may open besides its default one: an organisation's admins also act as
#: its sponsor (incentive campaigns) and payer staff; clinicians (clients) as payer staff.
_DESKS_OF = {Role.ADMIN: ("operator", "sponsor", "payer"), Role.CLIENT: ("provider", "payer")}
DESKS = ("operator", "provider", "payer", "sponsor")


def staff_login_payload(audience: str, nonce: str) -> bytes:
    """What a member signs to log in to the UI of the node whose audience is ``audience``."""
    return encoding.encode({"domain": STAFF_DOMAIN, "audience": audience, "nonce": nonce})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str, limit: int) -> bytes:
    text = text.strip()
    if not text or len(text) > limit:
        raise ValueError("empty or too long")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def sign_staff_login(identity: LocalIdentity, audience: str, nonce: str) -> tuple[str, str]:
    """(identity, signature) in base64url: what a member pastes into the staff login form."""
    signature = identity.key.sign(staff_login_payload(audience, nonce))
    return _b64(identity.identity), _b64(signature)


def _home(request: Request) -> RedirectResponse:
    view = view_for(session_of(request).role)
    return RedirectResponse(view.home if view is not None else "/ui/", status_code=303)


def routes(router: APIRouter, ctx: UiContext) -> None:
    challenges = ChallengeService(
        ctx.login_audience(),
        ledger_resolver(gateway_query(ctx.node.gateway)),
        ttl=CHALLENGE_TTL,
    )

    def patient_form(request: Request, error: str = "", status: int = 200) -> Response:
        challenge = challenges.issue()
        session_of(request).set("did_nonce", challenge.nonce)
        return page(
            request,
            "login_patient.html",
            "Patient sign-in",
            status,
            challenge=challenge,
            demo_dids=ctx.wallets.dids() if ctx.wallets is not None else [],
            error=error,
        )

    @router.get("/login/patient", openapi_extra=access(Rule.OPEN))
    async def login_patient(request: Request) -> Response:
        """The DID-auth challenge for a patient's wallet to sign."""
        return patient_form(request)

    @router.post("/login/patient", openapi_extra=access(Rule.SESSION))
    async def login_patient_answer(request: Request) -> Response:
        """Check the wallet's signed answer; on success the session is the patient's."""
        form = await read_form(request)
        session = session_of(request)
        nonce = session.pop("did_nonce")
        answer = first(form, "response")
        demo = first(form, "demo_did")
        if demo and ctx.wallets is not None and isinstance(nonce, str):
            wallet = ctx.wallets.get(demo)
            if wallet is not None:
                challenge = Challenge(nonce, ctx.login_audience(), time.time() + CHALLENGE_TTL)
                answer = wallet.respond(challenge)
        if not answer or len(answer) > 4096 or not isinstance(nonce, str):
            return patient_form(request, "Paste the answer your wallet signed.", 400)
        if _payload_nonce(answer) != nonce:
            return patient_form(request, "That answer is for another sign-in page.", 400)
        result = challenges.verify(answer)
        if not result.ok or not result.issuer:
            reason = result.reasons[0] if result.reasons else "not verified"
            return patient_form(request, f"Sign-in refused: {reason}", 400)
        session.login("patient", result.issuer)
        return _home(request)

    def staff_form(request: Request, error: str = "", status: int = 200) -> Response:
        nonce = secrets.token_urlsafe(16)
        session = session_of(request)
        session.set("staff_nonce", nonce)
        session.set("staff_nonce_at", int(time.time()))
        return page(
            request,
            "login_staff.html",
            "Staff sign-in",
            status,
            audience=ctx.login_audience(),
            nonce=nonce,
            demo_members=ctx.staff_keys.labels() if ctx.staff_keys is not None else [],
            desks=DESKS,
            error=error,
        )

    @router.get("/login/staff", openapi_extra=access(Rule.OPEN))
    async def login_staff(request: Request) -> Response:
        """A nonce for a member of this organisation to sign."""
        return staff_form(request)

    @router.post("/login/staff", openapi_extra=access(Rule.SESSION))
    async def login_staff_answer(request: Request) -> Response:
        """Check the member's signed login; admins become operators, clients providers."""
        form = await read_form(request)
        session = session_of(request)
        nonce, issued = session.pop("staff_nonce"), session.pop("staff_nonce_at")
        if not isinstance(nonce, str) or not isinstance(issued, int):
            return staff_form(request, "The sign-in page expired; sign the new nonce.", 400)
        if time.time() - issued > CHALLENGE_TTL:
            return staff_form(request, "The sign-in page expired; sign the new nonce.", 400)
        identity_text, signature_text = first(form, "identity"), first(form, "signature")
        demo = first(form, "demo_member")
        if demo and ctx.staff_keys is not None:
            local = ctx.staff_keys.get(demo)
            if local is not None:
                identity_text, signature_text = sign_staff_login(local, ctx.login_audience(), nonce)
        try:
            identity = _unb64(identity_text, 4096)
            signature = _unb64(signature_text, 128)
        except ValueError:
            return staff_form(request, "Paste your identity and signature (base64url).", 400)
        try:
            cert = ctx.node.membership().validate(identity)
        except MembershipError:
            return staff_form(request, "That identity is not a current consortium member.", 400)
        payload = staff_login_payload(ctx.login_audience(), nonce)
        if not verify(cert.public_key, payload, signature):
            return staff_form(request, "The signature does not verify for that member.", 400)
        role = _ROLE_OF.get(cert.role)
        if cert.org != ctx.org or role is None:
            return staff_form(
                request, f"Only {ctx.org}'s admin and client members sign in here.", 403
            )
        desk = first(form, "desk")
        if desk:
            if desk not in _DESKS_OF[cert.role]:
                return staff_form(
                    request, f"A {cert.role.value} member cannot open that desk.", 403
                )
            role = desk
        session.login(role, f"{cert.org}.{cert.name}", serial=str(cert.serial))  # type: ignore[arg-type]
        return _home(request)

    @router.post("/logout", openapi_extra=access(Rule.SESSION))
    async def logout(request: Request) -> Response:
        """End the session."""
        await read_form(request)
        session_of(request).logout()
        return RedirectResponse("/ui/", status_code=303)


def _payload_nonce(jws: str) -> str | None:
    """The ``nonce`` claim of a compact JWS, unverified (the session-binding check comes before
    the signature check, which :class:`ChallengeService` does), or None."""
    parts = jws.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    nonce = claims.get("nonce") if isinstance(claims, dict) else None
    return nonce if isinstance(nonce, str) else None
