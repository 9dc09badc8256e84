"""The holder wallet's HTTP API: one unlocked :class:`~careledger.credentials.wallet.Wallet`
behind a bearer token, for a patient's own apps on the same machine.

``careledger wallet serve`` runs it with uvicorn on a loopback address only. Every request —
routes, ``/openapi.json`` and ``/docs`` alike — needs ``Authorization: Bearer <token>``; the token
is checked before the body is read, so an unauthenticated caller cannot make the wallet buffer
anything. Bodies over ``max_body_bytes`` are refused (413) and errors are the node API's JSON
(``{"error", "type"}``, status from :func:`careledger.errors.http_status`), through the same
guard class :class:`~careledger.api.app.NodeApp`. Routes are documented in ``docs/api.md``.

Listing never returns claims; one credential's claims are returned only when asked for by id.
Imported credentials are checked for shape (an SD-JWT VC bound to this wallet's holder key, or a
W3C VC with context, type, issuer, subject and proof) — not for the issuer's signature, trust or
status, which the verifier that receives a presentation checks.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import threading
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger import __version__
from careledger.api.app import NodeApp, error_response, install_error_handlers
from careledger.api.models import ErrorOut
from careledger.contracts.dids import did_for_key
from careledger.credentials import sd_jwt
from careledger.credentials.document_loader import CREDENTIALS_V1, CREDENTIALS_V2
from careledger.credentials.errors import CredentialFormatError, WalletError
from careledger.credentials.request import PresentationRequest
from careledger.credentials.wallet import StoredCredential, Wallet
from careledger.errors import CareLedgerError, InvalidInput, NotAuthenticated, NotFound
from careledger.identity.did.jwk import public_key_from_jwk
from careledger.identity.did.keys import Ed25519Signer

#: Environment variable ``careledger wallet serve`` takes the bearer token from, when set.
TOKEN_ENV = "CARELEDGER_WALLET_TOKEN"
#: A token shorter than this is refused (a generated one is 43 characters, 256 bits).
MIN_TOKEN_CHARS = 16
#: Default request body limit: credentials are kilobytes; a large one with many disclosures fits.
DEFAULT_WALLET_MAX_BODY_BYTES = 256 * 1024
#: Default port of ``careledger wallet serve``.
DEFAULT_WALLET_PORT = 7090
#: The wallet key that holds credentials (the one ``careledger wallet create`` makes).
HOLDER_KEY = "holder"

_MAX_CLAIMS = 64
_MAX_TEXT = 2048


def new_token() -> str:
    """A fresh 256-bit bearer token (URL-safe text)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """``token`` if it is usable as a bearer token, else :class:`InvalidInput`."""
    if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable():
        raise InvalidInput(
            f"a wallet token is at least {MIN_TOKEN_CHARS} printable ASCII characters"
        )
    if any(c.isspace() for c in token):
        raise InvalidInput("a wallet token has no spaces")
    return token


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address (the wallet is never served beyond this machine)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidInput(
            f"host {host!r}: the wallet API is served on a loopback address only (127.0.0.1, ::1)"
        )
    return host


def _presented_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else None
    return None


def _unauthenticated() -> JSONResponse:
    response = error_response(
        NotAuthenticated("a valid bearer token is required (Authorization: Bearer <token>)")
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="careledger-wallet"'
    return response


class WalletApp(NodeApp):
    """The wallet API as served: the bearer-token check, then :class:`NodeApp`'s body limit and
    JSON error guard, around the FastAPI application (``.app``)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, token: str) -> None:
        super().__init__(app, max_body_bytes)
        self._token = check_token(token).encode("ascii")

    def authorized(self, presented: bytes | None) -> bool:
        """True when ``presented`` is this server's token (constant-time comparison)."""
        return presented is not None and hmac.compare_digest(presented, self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.authorized(
            _presented_token(scope.get("headers", []))
        ):
            await _unauthenticated()(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# -- wire models -----------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WalletDidOut(_Model):
    did: str = Field(description="The holder's did:key.")
    did_careledger: str = Field(description="The did:careledger the key creates when anchored.")
    public_key_multibase: str


class CredentialOut(_Model):
    id: str
    format: str = Field(description="`sd-jwt` (SD-JWT VC) or `ldp_vc` (W3C VC, Data Integrity).")
    type: str = Field(description="The SD-JWT VC `vct`, or the VC's specific `type`.")


class CredentialListOut(_Model):
    credentials: list[CredentialOut]


class CredentialDetailOut(CredentialOut):
    claims: dict[str, Any] = Field(
        description="SD-JWT VC: the issuer JWT's claims with every disclosure applied; "
        "W3C VC: the credential document."
    )


class ImportIn(_Model):
    credential: str | dict[str, Any] = Field(
        description="An SD-JWT VC (compact text ending in `~`) or a W3C VC (JSON object)."
    )


class PresentationRequestIn(_Model):
    """A verifier's request, as ``PresentationRequest.to_json()`` writes it."""

    credential_type: str = Field(min_length=1, max_length=_MAX_TEXT)
    claims: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=_MAX_CLAIMS
    )
    aud: str = Field(min_length=1, max_length=_MAX_TEXT)
    nonce: str = Field(min_length=8, max_length=256)
    iat: float
    max_age: float = Field(default=300.0, gt=0)
    holder_binding: bool = Field(
        default=True,
        description="Whether the verifier demands a key-binding JWT (this wallet always adds one).",
    )


class PresentationOut(_Model):
    presentation: str = Field(description="SD-JWT+KB: issuer JWT, disclosures, key-binding JWT.")
    credential_type: str
    disclosed: list[str] = Field(description="The claim paths disclosed (those requested).")


# -- import checks ---------------------------------------------------------------------------
def _has_path(claims: Mapping[str, Any], path: str) -> bool:
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def check_sd_jwt_vc(token: str, holder: Ed25519Signer) -> str:
    """``token`` stripped, if it is an SD-JWT VC (no key binding) bound to ``holder``'s key."""
    token = token.strip()
    parsed = sd_jwt.SdJwt.parse(token)
    if parsed.kb_jwt is not None:
        raise CredentialFormatError("this is a presentation (it ends in a key-binding JWT)")
    decoded = sd_jwt.decode(parsed)
    typ = decoded.jws.header.get("typ")
    if typ not in sd_jwt.ACCEPTED_TYPS:
        raise CredentialFormatError(f"JWT typ {typ!r} is not an SD-JWT VC ({sd_jwt.TYP})")
    vct = decoded.claims.get("vct")
    if not isinstance(vct, str) or not vct:
        raise CredentialFormatError("an SD-JWT VC names its type in a `vct` claim")
    if not isinstance(decoded.claims.get("iss"), str):
        raise CredentialFormatError("an SD-JWT VC names its issuer in an `iss` claim")
    cnf = decoded.claims.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
        raise CredentialFormatError("the credential is not bound to a holder key (no cnf.jwk)")
    if public_key_from_jwk(cnf["jwk"]) != holder.public_key:
        raise CredentialFormatError("the credential is bound to another key, not this wallet's")
    return token


def check_vc(document: Mapping[str, Any]) -> None:
    """:class:`CredentialFormatError` unless ``document`` has the shape of a W3C VC with a proof."""
    context = document.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first not in (CREDENTIALS_V2, CREDENTIALS_V1):
        raise CredentialFormatError(f"@context must start with {CREDENTIALS_V2} (or VC 1.1)")
    types = document.get("type")
    if not (
        types == "VerifiableCredential"
        or (isinstance(types, list) and "VerifiableCredential" in types)
    ):
        raise CredentialFormatError("type must include VerifiableCredential")
    if isinstance(types, list) and not all(isinstance(t, str) for t in types):
        raise CredentialFormatError("type must be strings")
    if "id" in document and not isinstance(document["id"], str):
        raise CredentialFormatError("id must be a string")
    issuer = document.get("issuer")
    if not (
        isinstance(issuer, str) or (isinstance(issuer, dict) and isinstance(issuer.get("id"), str))
    ):
        raise CredentialFormatError("issuer must be a URL or an object with an id")
    subject = document.get("credentialSubject")
    subjects = subject if isinstance(subject, list) else [subject]
    if not subjects or not all(isinstance(s, dict) for s in subjects):
        raise CredentialFormatError("credentialSubject must be an object (or a list of them)")
    proof = document.get("proof")
    proofs = proof if isinstance(proof, list) else [proof]
    if not proofs or not all(
        isinstance(p, dict) and isinstance(p.get("type"), str) for p in proofs
    ):
        raise CredentialFormatError("a verifiable credential carries a proof with a type")


def _summary(stored: StoredCredential) -> CredentialOut:
    return CredentialOut(id=stored.id, format=stored.format, type=stored.type)


def _claims(stored: StoredCredential) -> dict[str, Any]:
    if stored.format == "sd-jwt":
        return sd_jwt.decode(sd_jwt.SdJwt.parse(stored.data)).claims
    document: dict[str, Any] = json.loads(stored.data)
    return document


# -- the application -------------------------------------------------------------------------
_BEARER = HTTPBearer(auto_error=False, description="The token `careledger wallet serve` printed.")


def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """Every route's dependency: :class:`WalletApp` checked already; this keeps the bare FastAPI
    application (``.app``) closed too, and puts the scheme in the OpenAPI document."""
    expected: bytes = request.app.state.token
    presented = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(presented, expected):
        raise NotAuthenticated("a valid bearer token is required")


def create_wallet_app(
    wallet: Wallet,
    token: str,
    *,
    max_body_bytes: int = DEFAULT_WALLET_MAX_BODY_BYTES,
    holder_key: str = HOLDER_KEY,
) -> WalletApp:
    """The wallet API over ``wallet`` (already open), answering only requests bearing ``token``."""
    holder = wallet.key(holder_key)
    lock = threading.Lock()  # handlers are sync (run in a thread pool); one at a time
    token = check_token(token)
    app = FastAPI(
        title="CareLedger wallet API",
        version=__version__,
        description="A holder's wallet: its DID, stored credentials, minimal presentations. "
        "Every request needs `Authorization: Bearer <token>`. See docs/api.md.",
        dependencies=[Depends(_authenticated)],
        responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 500: {"model": ErrorOut}},
    )

    app.state.token = token.encode("ascii")

    def _wallet_error(exc: CareLedgerError) -> JSONResponse:
        if isinstance(exc, NotAuthenticated):
            return _unauthenticated()
        return error_response(exc)

    install_error_handlers(app, _wallet_error)

    @app.get("/v1/wallet/did", tags=["wallet"])
    def did() -> WalletDidOut:
        """The holder's DIDs."""
        return WalletDidOut(
            did=holder.did_key,
            did_careledger=did_for_key(holder.public_key.multikey),
            public_key_multibase=holder.public_key.multikey,
        )

    @app.get("/v1/wallet/credentials", tags=["wallet"])
    def list_credentials() -> CredentialListOut:
        """Id, format and type of every stored credential; never their claims."""
        with lock:
            stored = wallet.credentials()
        return CredentialListOut(credentials=[_summary(c) for c in stored])

    @app.get(
        "/v1/wallet/credentials/{credential_id}",
        tags=["wallet"],
        responses={404: {"model": ErrorOut}},
    )
    def get_credential(
        credential_id: Annotated[str, Path(min_length=1, max_length=512)],
    ) -> CredentialDetailOut:
        """One stored credential with its claims."""
        with lock:
            found = next((c for c in wallet.credentials() if c.id == credential_id), None)
        if found is None:
            raise NotFound(f"no credential {credential_id!r} in this wallet")
        return CredentialDetailOut(**_summary(found).model_dump(), claims=_claims(found))

    @app.post(
        "/v1/wallet/credentials",
        tags=["wallet"],
        status_code=201,
        responses={200: {"model": CredentialOut, "description": "Already stored"}},
    )
    def import_credential(body: ImportIn, response: Response) -> CredentialOut:
        """Store an SD-JWT VC or a W3C VC (201); the same credential again is 200, stored once."""
        with lock:
            if isinstance(body.credential, str):
                token = check_sd_jwt_vc(body.credential, holder)
                same = [c for c in wallet.credentials() if c.data == token]
                if same:
                    response.status_code = 200
                    return _summary(same[0])
                stored = wallet.add_sd_jwt(token)
            else:
                check_vc(body.credential)
                text = json.dumps(body.credential)
                existing = {c.id: c for c in wallet.credentials()}
                vc_id = body.credential.get("id")
                if isinstance(vc_id, str) and vc_id in existing:
                    if json.loads(existing[vc_id].data) != body.credential:
                        raise InvalidInput(f"a different credential with id {vc_id} is stored")
                    response.status_code = 200
                    return _summary(existing[vc_id])
                stored = wallet.add_vc(json.loads(text))
            wallet.save()
        return _summary(stored)

    @app.post("/v1/wallet/presentations", tags=["wallet"], responses={404: {"model": ErrorOut}})
    def present(body: PresentationRequestIn) -> PresentationOut:
        """An SD-JWT+KB answering the request, disclosing only the requested claims; 404 when
        no stored SD-JWT VC of that type, bound to the holder key, holds them."""
        request = PresentationRequest.from_json(body.model_dump())
        with lock:
            try:
                presentation = wallet.present(request)
            except WalletError as exc:
                raise NotFound(str(exc)) from exc
        shown = sd_jwt.decode(sd_jwt.SdJwt.parse(presentation)).claims
        missing = [c for c in request.claims if not _has_path(shown, c)]
        if missing:
            raise NotFound(
                f"the {request.credential_type} credential does not hold {', '.join(missing)}"
            )
        return PresentationOut(
            presentation=presentation,
            credential_type=request.credential_type,
            disclosed=list(request.claims),
        )

    return WalletApp(app, max_body_bytes, token)
