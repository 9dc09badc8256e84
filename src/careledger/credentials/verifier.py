"""One call to decide whether a credential or presentation can be relied on.

Checks, in order: proof, issuer DID resolution and key authorisation, trust registry, validity
period, status lists and — for SD-JWT presentations — holder binding (KB-JWT signature, audience,
nonce, ``sd_hash``, freshness, single use) and that only requested claims were disclosed.

Holder binding is a policy: required when the request demands it
(:attr:`PresentationRequest.holder_binding`, the default), when the verifier is built with
``require_holder_binding=True``, or when the presentation carries a KB-JWT (which is then
checked). Required and absent (no ``cnf`` key, no KB-JWT) is ``holder_binding_required``;
present and wrong is ``holder_binding_failed``.

An SD-JWT whose issuer JWT names no ``kid`` is verified with the issuer's assertion key when its
DID document lists exactly one (``issuer_key_ambiguous`` when it lists several). Every
failed check becomes a :class:`~careledger.credentials.results.Reason`; nothing here raises for a
bad credential.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from careledger.credentials.base import KeyResolver, StatusListSource, TrustRegistry
from careledger.credentials.data_integrity import parse_datetime, verify_proof
from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.jws import CompactJws
from careledger.credentials.request import PresentationRequest
from careledger.credentials.results import ReasonCode, VerificationResult
from careledger.credentials.sd_jwt import ACCEPTED_TYPS, KB_TYP, SdJwt, decode, sd_hash
from careledger.credentials.status.bitstring import StatusChecker
from careledger.credentials.status.token_list import TokenStatusChecker
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.jwk import public_key_from_jwk

_VISIBLE_SD_JWT_CLAIMS = ("cnf", "_sd_alg")


class Verifier:
    """Verifies W3C VCs (Data Integrity) and SD-JWT VC presentations against one policy.

    ``leeway`` (seconds) absorbs clock skew on validity times; ``max_kb_age`` bounds how old a
    key-binding JWT may be. Nonces of accepted presentations are remembered (``replay_window``
    entries) so a presentation cannot be replayed.
    """

    def __init__(
        self,
        keys: KeyResolver,
        trust: TrustRegistry,
        status: StatusListSource,
        clock: Callable[[], float] = time.time,
        leeway: float = 60.0,
        max_kb_age: float = 300.0,
        replay_window: int = 100_000,
        require_holder_binding: bool = False,
    ) -> None:
        self._keys = keys
        self._trust = trust
        self._status = StatusChecker(status, keys)
        self._tokens = TokenStatusChecker(status, keys)
        self._clock = clock
        self._leeway = leeway
        self._max_kb_age = max_kb_age
        self._used_nonces: OrderedDict[str, None] = OrderedDict()
        self._replay_window = replay_window
        self._require_holder_binding = require_holder_binding

    # -- W3C VC with Data Integrity ---------------------------------------------------------
    def verify_credential(
        self, credential: Mapping[str, Any], expected_type: str | None = None
    ) -> VerificationResult:
        """Check a Data Integrity secured credential end to end."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        result = verify_proof(credential, self._keys, now=now)
        if not result.ok:
            return result
        issuer_raw = credential.get("issuer")
        issuer = issuer_raw.get("id") if isinstance(issuer_raw, Mapping) else issuer_raw
        if not isinstance(issuer, str):
            return result.fail(ReasonCode.MALFORMED, "credential has no issuer")
        result.issuer = issuer
        proofs = (
            credential["proof"] if isinstance(credential["proof"], list) else [credential["proof"]]
        )
        for proof in proofs:
            if str(proof.get("verificationMethod", "")).split("#", 1)[0] != issuer:
                result.fail(
                    ReasonCode.ISSUER_MISMATCH,
                    f"proof key {proof.get('verificationMethod')} is not the issuer's",
                )
        types = credential.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if expected_type is not None and expected_type not in types:
            result.fail(ReasonCode.TYPE_MISMATCH, f"credential is not a {expected_type}")
        specific = [t for t in types if t != "VerifiableCredential"] or ["VerifiableCredential"]
        for kind in specific:
            if not self._trust.is_trusted(issuer, kind):
                result.fail(ReasonCode.ISSUER_UNTRUSTED, f"{issuer} is not trusted to issue {kind}")
        self._check_period(
            result,
            credential.get("validFrom", credential.get("issuanceDate")),
            credential.get("validUntil", credential.get("expirationDate")),
            now,
        )
        result.reasons.extend(self._status.check(credential, now))
        if result.ok:
            subject = credential.get("credentialSubject", {})
            result.claims = dict(subject) if isinstance(subject, Mapping) else {"subjects": subject}
        return result

    def _check_period(
        self, result: VerificationResult, start: Any, end: Any, now: datetime
    ) -> None:
        for label, raw in (("validFrom", start), ("validUntil", end)):
            if raw is not None and parse_datetime(raw) is None:
                result.fail(ReasonCode.MALFORMED, f"{label} is not a dateTime")
        begin, finish = parse_datetime(start), parse_datetime(end)
        stamp = now.timestamp()
        if begin is not None and begin.timestamp() > stamp + self._leeway:
            result.fail(ReasonCode.NOT_YET_VALID, f"not valid before {start}")
        if finish is not None and finish.timestamp() < stamp - self._leeway:
            result.fail(ReasonCode.EXPIRED, f"expired at {end}")

    # -- SD-JWT VC presentations -------------------------------------------------------------
    def verify_sd_jwt(self, presentation: str, request: PresentationRequest) -> VerificationResult:
        """Check an SD-JWT+KB presentation against the request it answers."""
        result = VerificationResult()
        now = self._clock()
        try:
            parsed = SdJwt.parse(presentation)
            decoded = decode(parsed)
        except CredentialFormatError as exc:
            return result.fail(ReasonCode.DISCLOSURE_INVALID, str(exc))
        jws, claims = decoded.jws, decoded.claims
        if jws.header.get("typ") not in ACCEPTED_TYPS:
            return result.fail(
                ReasonCode.MALFORMED, f"typ {jws.header.get('typ')!r} is not dc+sd-jwt"
            )
        issuer = claims.get("iss")
        kid = jws.header.get("kid")
        if not isinstance(issuer, str) or not isinstance(kid, str | None):
            return result.fail(ReasonCode.MALFORMED, "SD-JWT needs iss (and a string kid, if any)")
        result.issuer = issuer
        if kid is None:
            kid = self._sole_assertion_key(result, issuer)
            if kid is None:
                return result
        absolute_kid = kid if not kid.startswith("#") else issuer + kid
        if absolute_kid.split("#", 1)[0] != issuer:
            return result.fail(ReasonCode.ISSUER_MISMATCH, f"kid {kid} is not a key of {issuer}")
        lookup = self._keys.verification_method(absolute_kid, "assertionMethod")
        if lookup.method is None:
            return result.fail(ReasonCode.KEY_UNRESOLVED, lookup.error)
        if not jws.verify(lookup.method.public_key):
            return result.fail(ReasonCode.PROOF_INVALID, "issuer signature does not verify")
        vct = claims.get("vct")
        if vct != request.credential_type:
            result.fail(ReasonCode.TYPE_MISMATCH, f"vct {vct!r} is not {request.credential_type!r}")
        elif not self._trust.is_trusted(issuer, vct):
            result.fail(ReasonCode.ISSUER_UNTRUSTED, f"{issuer} is not trusted to issue {vct}")
        self._check_epoch(result, claims, now)
        self._check_holder(result, parsed, claims, request, now)
        self._check_sd_jwt_status(result, claims.get("status"), issuer, now)
        for path in decoded.disclosed_paths.values():
            if not request.allows(path):
                result.fail(
                    ReasonCode.CLAIM_NOT_REQUESTED, f"{path} was disclosed but not asked for"
                )
        for wanted in request.claims:
            if not _has(claims, wanted):
                result.fail(ReasonCode.CLAIM_MISSING, f"requested claim {wanted} not disclosed")
        if result.ok:
            if not self._consume_nonce(request.nonce):
                return result.fail(ReasonCode.NONCE_MISMATCH, "nonce already used (replay)")
            result.claims = {k: v for k, v in claims.items() if k not in _VISIBLE_SD_JWT_CLAIMS}
        return result

    def _check_sd_jwt_status(
        self, result: VerificationResult, status: Any, issuer: str, now: float
    ) -> None:
        """IETF Token Status List (``status_list``) and, for credentials issued before it,
        CareLedger's ``bitstring_status_list``; both are checked when both are present."""
        if status is None:
            return
        known = ("status_list", "bitstring_status_list")
        if not isinstance(status, Mapping) or not any(k in status for k in known):
            result.fail(ReasonCode.STATUS_UNAVAILABLE, "unsupported status mechanism")
            return
        if "status_list" in status:
            result.reasons.extend(self._tokens.check(status["status_list"], issuer, now))
        if "bitstring_status_list" in status:
            entries = status["bitstring_status_list"]
            result.reasons.extend(
                self._status.check(
                    {"issuer": issuer, "credentialStatus": entries},
                    datetime.fromtimestamp(now, UTC),
                )
            )

    def _sole_assertion_key(self, result: VerificationResult, issuer: str) -> str | None:
        """The issuer's only assertionMethod key, for an issuer JWT without ``kid``."""
        methods, error = self._keys.authorised_methods(issuer, "assertionMethod")
        if error:
            result.fail(ReasonCode.KEY_UNRESOLVED, error)
            return None
        if len(methods) != 1:
            result.fail(
                ReasonCode.ISSUER_KEY_AMBIGUOUS if methods else ReasonCode.KEY_UNRESOLVED,
                f"the issuer JWT has no kid and {issuer} has {len(methods)} assertion keys "
                "(accepted only when it has exactly one)",
            )
            return None
        return methods[0]

    def _check_epoch(
        self, result: VerificationResult, claims: Mapping[str, Any], now: float
    ) -> None:
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if exp is not None and (not isinstance(exp, int | float) or exp < now - self._leeway):
            result.fail(ReasonCode.EXPIRED, f"expired at {exp}")
        if nbf is not None and (not isinstance(nbf, int | float) or nbf > now + self._leeway):
            result.fail(ReasonCode.NOT_YET_VALID, f"not valid before {nbf}")

    def _check_holder(
        self,
        result: VerificationResult,
        parsed: SdJwt,
        claims: Mapping[str, Any],
        request: PresentationRequest,
        now: float,
    ) -> None:
        required = request.holder_binding or self._require_holder_binding
        if parsed.kb_jwt is None:
            if required:
                result.fail(
                    ReasonCode.HOLDER_BINDING_REQUIRED,
                    "holder binding is required and the presentation has no key-binding JWT",
                )
            elif now > request.issued_at + request.max_age:
                result.fail(ReasonCode.STALE_PRESENTATION, "the presentation request has expired")
            return
        cnf = claims.get("cnf")
        if not isinstance(cnf, Mapping) or not isinstance(cnf.get("jwk"), Mapping):
            code = ReasonCode.HOLDER_BINDING_REQUIRED if required else ReasonCode.HOLDER_BINDING
            result.fail(code, "the credential has no cnf.jwk holder key to check the KB-JWT with")
            return
        try:
            kb = CompactJws.parse(parsed.kb_jwt)
            holder_key = public_key_from_jwk(cnf["jwk"])
        except (CredentialFormatError, InvalidDid) as exc:
            result.fail(ReasonCode.HOLDER_BINDING, str(exc))
            return
        if kb.header.get("typ") != KB_TYP or not kb.verify(holder_key):
            result.fail(
                ReasonCode.HOLDER_BINDING, "key-binding JWT is not signed by the holder key"
            )
            return
        payload = kb.payload
        if payload.get("aud") != request.audience:
            result.fail(ReasonCode.AUDIENCE_MISMATCH, f"presented to {payload.get('aud')!r}")
        if payload.get("nonce") != request.nonce:
            result.fail(ReasonCode.NONCE_MISMATCH, "nonce does not match the request")
        if payload.get("sd_hash") != sd_hash(parsed.presentation_prefix):
            result.fail(ReasonCode.SD_HASH_MISMATCH, "sd_hash does not cover these disclosures")
        iat = payload.get("iat")
        if not isinstance(iat, int | float):
            result.fail(ReasonCode.MALFORMED, "key-binding JWT has no iat")
        elif iat > now + self._leeway or iat < now - self._max_kb_age:
            result.fail(ReasonCode.STALE_PRESENTATION, "key-binding JWT is not fresh")
        if now > request.issued_at + request.max_age:
            result.fail(ReasonCode.STALE_PRESENTATION, "the presentation request has expired")

    def _consume_nonce(self, nonce: str) -> bool:
        if nonce in self._used_nonces:
            return False
        self._used_nonces[nonce] = None
        if len(self._used_nonces) > self._replay_window:
            self._used_nonces.popitem(last=False)
        return True


def _has(claims: Mapping[str, Any], path: str) -> bool:
    node: Any = claims
    for part in path.replace("[]", "").split("."):
        if not part:
            continue
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True
