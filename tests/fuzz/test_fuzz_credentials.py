"""Fuzzing the credential parsers: SD-JWT (and its KB-JWT) presentations, disclosures, compact
JWS, and W3C VCs with Data Integrity proofs (verified with the offline document loader).

A verifier answers "not valid" with a :class:`VerificationResult` and reasons; parsing refuses
with ``CredentialFormatError`` (an ``InvalidInput``). It never raises anything else.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from careledger.credentials import (
    INSURANCE_COVERAGE,
    InMemoryStatusListSource,
    InMemoryTrustRegistry,
    PresentationRequest,
    Verifier,
    issue_credential,
    issue_sd_jwt_vc,
)
from careledger.credentials.jws import CompactJws
from careledger.credentials.sd_jwt import Disclosure, SdJwt, decode, holder_jwk, present
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer
from tests.fuzz.harness import budgets, fuzz, inputs, mutated, seeds

CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
    "coverageEnd": "2027-12-31",
}
AUD = "did:web:clinic.example"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=16,
)


class World:
    def __init__(self) -> None:
        self.payer, self.patient = Ed25519Signer(), Ed25519Signer()
        self.vm = self.payer.did_key_verification_method
        trust = InMemoryTrustRegistry()
        trust.trust(self.payer.did_key, INSURANCE_COVERAGE.name, INSURANCE_COVERAGE.vct)
        self.verifier = Verifier(DidResolver([DidKeyMethod()]), trust, InMemoryStatusListSource())
        self.claims = {**CLAIMS, "payerId": self.payer.did_key}

    def request(self) -> PresentationRequest:
        return PresentationRequest.new(INSURANCE_COVERAGE.vct, ("memberId",), AUD)

    def presentation(self, request: PresentationRequest) -> str:
        token = issue_sd_jwt_vc(
            INSURANCE_COVERAGE, self.payer, self.vm, self.claims, holder_jwk(self.patient)
        )
        return present(token, request.claims, self.patient, AUD, request.nonce)

    def credential(self) -> dict[str, Any]:
        return issue_credential(
            INSURANCE_COVERAGE, self.payer, self.vm, self.patient.did_key, self.claims
        )


@st.composite
def jwt_like(draw: st.DrawFn) -> bytes:
    """Dot- and tilde-separated base64url parts whose JSON is arbitrary."""
    import base64

    def part() -> str:
        doc = json.dumps(draw(json_values)).encode()
        return base64.urlsafe_b64encode(doc).rstrip(b"=").decode()

    jws = ".".join(part() for _ in range(draw(st.integers(1, 4))))
    disclosures = [part() for _ in range(draw(st.integers(0, 3)))]
    return "~".join([jws, *disclosures, draw(st.sampled_from(["", jws]))]).encode()


@budgets
def test_sd_jwt_presentation(budget: settings) -> None:
    world = World()
    request = world.request()
    valid = world.presentation(request).encode()
    strategy = inputs("sd_jwt", jwt_like()) | mutated([valid, *seeds("sd_jwt")])

    def verify(raw: bytes) -> object:
        text = raw.decode("utf-8", errors="replace")
        result = world.verifier.verify_sd_jwt(text, request)
        if result.ok:  # only the genuine presentation (modulo base64url padding bits)
            assert SdJwt.parse(text).disclosures == SdJwt.parse(valid.decode()).disclosures
        return result

    fuzz(budget, "sd_jwt", verify, strategy)


@budgets
def test_sd_jwt_parts(budget: settings) -> None:
    """The parsers the wallet runs on an imported token: split, JWS, disclosures, decode."""

    def parse(raw: bytes) -> object:
        text = raw.decode("utf-8", errors="replace")
        parsed = SdJwt.parse(text)
        for part in parsed.disclosures:
            Disclosure.parse(part)
        CompactJws.parse(parsed.issuer_jwt)
        if parsed.kb_jwt:
            CompactJws.parse(parsed.kb_jwt)
        return decode(parsed)

    fuzz(budget, "sd_jwt", parse, inputs("sd_jwt", jwt_like()))


@st.composite
def damaged_credential(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A signed VC with fields replaced by arbitrary JSON, or removed."""
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        target = doc
        if draw(st.booleans()) and isinstance(doc.get("proof"), dict):
            target = doc["proof"]
        key = draw(st.sampled_from(sorted(target) or ["id"]) | st.text(max_size=8))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    return json.dumps(doc).encode()


@budgets
def test_data_integrity_credential(budget: settings) -> None:
    world = World()
    valid = world.credential()
    strategy = inputs("credential") | damaged_credential(valid)

    def verify(raw: bytes) -> object:
        try:
            doc = json.loads(raw)
        except ValueError:
            return None  # not JSON: refused before any CareLedger code runs
        if not isinstance(doc, dict):
            return None
        return world.verifier.verify_credential(doc)

    fuzz(budget, "credential", verify, strategy)
