"""Interoperability with the IETF SD-JWT reference implementation (PyPI ``sd-jwt``), both ways.

Skipped when ``sd-jwt`` is not installed (``pip install 'sd-jwt>=0.10.4,<0.11'``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    InMemoryStatusListSource,
    InMemoryTrustRegistry,
    PresentationRequest,
    Verifier,
    issue_sd_jwt_vc,
)
from careledger.credentials.sd_jwt import holder_jwk, present
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer
from careledger.identity.did.jwk import b64url

sd_jwt_ref = pytest.importorskip("sd_jwt", reason="reference implementation 'sd-jwt' not installed")
jwk_mod = pytest.importorskip("jwcrypto.jwk")
from sd_jwt.common import SDObj  # noqa: E402
from sd_jwt.holder import SDJWTHolder  # noqa: E402
from sd_jwt.issuer import SDJWTIssuer  # noqa: E402
from sd_jwt.verifier import SDJWTVerifier  # noqa: E402


class EdDSAKeyBindingVerifier(SDJWTVerifier):  # type: ignore[misc]
    """The reference verifier (0.10.4) hard-codes ES256 for the KB-JWT in its public API; its own
    ``sign_alg`` parameter is only reachable by overriding this method."""

    def _verify_key_binding_jwt(
        self, expected_aud: Any = None, expected_nonce: Any = None, sign_alg: Any = None
    ) -> None:
        super()._verify_key_binding_jwt(expected_aud, expected_nonce, sign_alg="EdDSA")


CLAIMS = {
    "memberId": "M-77",
    "planId": "SILVER",
    "planName": "Silver HMO",
    "payerName": "Example Plan",
    "coverageStart": "2025-01-01",
}


def _jwk(signer: Ed25519Signer, private: bool) -> Any:
    data = {"kty": "OKP", "crv": "Ed25519", "x": b64url(signer.public_key.raw)}
    if private:
        data["d"] = b64url(signer.seed)
    return jwk_mod.JWK(**data)


def test_careledger_issues_reference_verifies() -> None:
    issuer, holder = Ed25519Signer(), Ed25519Signer()
    token = issue_sd_jwt_vc(
        INSURANCE_COVERAGE,
        issuer,
        issuer.did_key_verification_method,
        {**CLAIMS, "payerId": issuer.did_key},
        holder_jwk(holder),
    )
    presentation = present(token, ["memberId", "planName"], holder, "did:web:clinic", "n-123")

    def issuer_key(iss: str, header: dict[str, Any]) -> Any:
        assert iss == issuer.did_key
        assert header["kid"] == issuer.did_key_verification_method
        return _jwk(issuer, private=False)

    verifier = EdDSAKeyBindingVerifier(
        presentation, issuer_key, expected_aud="did:web:clinic", expected_nonce="n-123"
    )
    payload = verifier.get_verified_payload()
    assert payload["memberId"] == "M-77"
    assert payload["planName"] == "Silver HMO"
    assert "planId" not in payload
    assert payload["vct"] == INSURANCE_COVERAGE.vct


def test_reference_issues_careledger_verifies() -> None:
    issuer, holder = Ed25519Signer(), Ed25519Signer()
    vm = issuer.did_key_verification_method
    claims: dict[Any, Any] = {
        "iss": issuer.did_key,
        "vct": INSURANCE_COVERAGE.vct,
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
        **{SDObj(k): v for k, v in CLAIMS.items()},
    }
    issued = SDJWTIssuer(
        claims,
        _jwk(issuer, private=True),
        holder_key=_jwk(holder, False),
        sign_alg="EdDSA",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": vm},
    )
    request = PresentationRequest.new(INSURANCE_COVERAGE.vct, ["memberId"], "did:web:clinic")
    ref_holder = SDJWTHolder(issued.sd_jwt_issuance)
    ref_holder.create_presentation(
        {"memberId": True},
        nonce=request.nonce,
        aud=request.audience,
        holder_key=_jwk(holder, private=True),
        sign_alg="EdDSA",
    )

    trust = InMemoryTrustRegistry()
    trust.trust(issuer.did_key, INSURANCE_COVERAGE.vct)
    verifier = Verifier(DidResolver([DidKeyMethod()]), trust, InMemoryStatusListSource())
    result = verifier.verify_sd_jwt(ref_holder.sd_jwt_presentation, request)
    assert result.ok, result.reasons
    assert result.claims["memberId"] == "M-77"
    assert "planName" not in result.claims
