"""DID authentication by challenge/response: an organisation proves a patient controls a DID.

The organisation issues a single-use, expiring nonce (:meth:`ChallengeService.issue`); the holder
signs a compact JWS over ``{iss, aud, nonce, iat}`` with a key listed under ``authentication`` in
their DID document (:func:`respond`); :meth:`ChallengeService.verify` resolves the DID, checks the
signature, audience and nonce, and burns the nonce whatever the outcome.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from careledger.credentials.base import KeyResolver
from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.jws import CompactJws, sign_compact
from careledger.credentials.results import ReasonCode, VerificationResult
from careledger.identity.did.keys import Ed25519Signer

_TYP = "careledger-did-auth+jwt"


@dataclass(frozen=True)
class Challenge:
    """A nonce the holder must sign for ``audience`` before ``expires_at`` (epoch seconds)."""

    nonce: str
    audience: str
    expires_at: float


def respond(
    challenge: Challenge,
    signer: Ed25519Signer,
    verification_method: str,
    clock: Callable[[], float] = time.time,
) -> str:
    """The holder's signed answer to ``challenge`` with the key ``verification_method``."""
    did = verification_method.split("#", 1)[0]
    payload = {"iss": did, "aud": challenge.audience, "nonce": challenge.nonce, "iat": int(clock())}
    return sign_compact({"typ": _TYP, "kid": verification_method}, payload, signer)


class ChallengeService:
    """Issues and checks DID-auth challenges for one audience (the organisation's DID or URL)."""

    def __init__(
        self,
        audience: str,
        keys: KeyResolver,
        ttl: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._audience = audience
        self._keys = keys
        self._ttl = ttl
        self._clock = clock
        self._outstanding: dict[str, float] = {}

    def issue(self) -> Challenge:
        """A fresh challenge (128-bit nonce)."""
        now = self._clock()
        self._outstanding = {n: t for n, t in self._outstanding.items() if t > now}
        nonce = secrets.token_urlsafe(16)
        self._outstanding[nonce] = now + self._ttl
        return Challenge(nonce, self._audience, now + self._ttl)

    def verify(self, response: str) -> VerificationResult:
        """Check a response; on success ``result.issuer`` is the authenticated DID."""
        result = VerificationResult()
        try:
            jws = CompactJws.parse(response)
        except CredentialFormatError as exc:
            return result.fail(ReasonCode.MALFORMED, str(exc))
        nonce = jws.payload.get("nonce")
        expires = self._outstanding.pop(nonce, None) if isinstance(nonce, str) else None
        if expires is None:
            return result.fail(ReasonCode.CHALLENGE_INVALID, "unknown or already used challenge")
        if expires < self._clock():
            return result.fail(ReasonCode.CHALLENGE_INVALID, "challenge expired")
        if jws.payload.get("aud") != self._audience:
            return result.fail(ReasonCode.AUDIENCE_MISMATCH, "response is for another audience")
        kid, did = jws.header.get("kid"), jws.payload.get("iss")
        if jws.header.get("typ") != _TYP or not isinstance(kid, str) or not isinstance(did, str):
            return result.fail(ReasonCode.MALFORMED, "response lacks typ, kid or iss")
        if kid.split("#", 1)[0] != did:
            return result.fail(ReasonCode.ISSUER_MISMATCH, "kid is not a key of iss")
        lookup = self._keys.verification_method(kid, "authentication")
        if lookup.method is None:
            return result.fail(ReasonCode.KEY_UNRESOLVED, lookup.error)
        if not jws.verify(lookup.method.public_key):
            return result.fail(ReasonCode.PROOF_INVALID, "signature does not verify")
        result.issuer = did
        return result
