"""SD-JWT VCs from other issuers' habits: no ``kid`` header (one assertion key only) and no
``cnf`` (holder binding as the verifier's policy, with its own reason code)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    CredentialFormatError,
    PresentationRequest,
    Verifier,
)
from careledger.credentials.results import ReasonCode
from careledger.credentials.sd_jwt import holder_jwk, issue, present
from careledger.identity.did import Ed25519Signer

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

VCT = INSURANCE_COVERAGE.vct
AUD = "did:web:clinic.example"
ISSUER = "did:web:payer.example"


def _did_document(*keys: Ed25519Signer) -> dict[str, Any]:
    methods = [
        {
            "id": f"{ISSUER}#key-{n}",
            "type": "Multikey",
            "controller": ISSUER,
            "publicKeyMultibase": key.public_key.multikey,
        }
        for n, key in enumerate(keys, 1)
    ]
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": ISSUER,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
    }


def _token(
    signer: Ed25519Signer, kid: str | None, holder: Ed25519Signer | None, iss: str = ISSUER
) -> str:
    payload = {"iss": iss, "vct": VCT, "iat": int(time.time()), "memberId": "M-7", "planId": "P"}
    jwk = None if holder is None else holder_jwk(holder)
    return issue(payload, ["memberId", "planId"], signer, kid, jwk)


def _verify(world: World, token: str, holder: Ed25519Signer | None, binding: bool = True) -> Any:
    req = PresentationRequest.new(VCT, ("memberId",), AUD, holder_binding=binding)
    return world.verifier.verify_sd_jwt(present(token, req.claims, holder, AUD, req.nonce), req)


def _trusted_issuer(world: World, *keys: Ed25519Signer) -> None:
    world.resolver.add_controller_document(_did_document(*keys))
    world.trust.trust(ISSUER, VCT)


# -- no kid -------------------------------------------------------------------------------------
def test_no_kid_accepted_when_the_issuer_has_one_assertion_key(world: World) -> None:
    payer = Ed25519Signer()
    _trusted_issuer(world, payer)
    result = _verify(world, _token(payer, None, world.patient), world.patient)
    assert result.ok, result.reasons
    assert result.claims["memberId"] == "M-7"


def test_no_kid_with_a_did_key_issuer(world: World) -> None:
    token = _token(world.payer, None, world.patient, iss=world.payer.did_key)
    assert _verify(world, token, world.patient).ok


def test_no_kid_refused_when_the_issuer_has_two_assertion_keys(world: World) -> None:
    payer, other = Ed25519Signer(), Ed25519Signer()
    _trusted_issuer(world, payer, other)
    result = _verify(world, _token(payer, None, world.patient), world.patient)
    assert result.codes == [ReasonCode.ISSUER_KEY_AMBIGUOUS]
    assert "2 assertion keys" in result.reasons[0].message
    # Naming the key still works with two keys.
    assert _verify(world, _token(payer, f"{ISSUER}#key-1", world.patient), world.patient).ok


def test_no_kid_signed_by_a_key_the_issuer_does_not_have(world: World) -> None:
    _trusted_issuer(world, Ed25519Signer())
    result = _verify(world, _token(Ed25519Signer(), None, world.patient), world.patient)
    assert result.codes == [ReasonCode.PROOF_INVALID]


def test_no_kid_and_an_unresolvable_issuer(world: World) -> None:
    result = _verify(world, _token(Ed25519Signer(), None, world.patient), world.patient)
    assert result.codes == [ReasonCode.KEY_UNRESOLVED]


# -- no cnf: holder binding as policy -------------------------------------------------------------
def test_bearer_credential_accepted_when_the_request_does_not_ask_for_binding(
    world: World,
) -> None:
    token = _token(world.payer, world.vm, None, iss=world.payer.did_key)
    result = _verify(world, token, None, binding=False)
    assert result.ok, result.reasons


def test_bearer_credential_refused_when_binding_is_required(world: World) -> None:
    token = _token(world.payer, world.vm, None, iss=world.payer.did_key)
    result = _verify(world, token, None, binding=True)
    assert result.codes == [ReasonCode.HOLDER_BINDING_REQUIRED]


def test_verifier_policy_requires_binding_whatever_the_request(world: World) -> None:
    strict = Verifier(world.resolver, world.trust, world.source, require_holder_binding=True)
    token = _token(world.payer, world.vm, None, iss=world.payer.did_key)
    req = PresentationRequest.new(VCT, ("memberId",), AUD, holder_binding=False)
    result = strict.verify_sd_jwt(present(token, req.claims, None, AUD, req.nonce), req)
    assert result.codes == [ReasonCode.HOLDER_BINDING_REQUIRED]


def test_a_presented_kb_jwt_is_checked_even_when_not_asked_for(world: World) -> None:
    token = _token(world.payer, world.vm, world.patient, iss=world.payer.did_key)
    assert _verify(world, token, world.patient, binding=False).ok
    thief = _verify(world, token, Ed25519Signer(), binding=False)
    assert thief.codes == [ReasonCode.HOLDER_BINDING]


def test_kb_jwt_over_a_credential_without_cnf_fails_binding(world: World) -> None:
    token = _token(world.payer, world.vm, None, iss=world.payer.did_key)
    result = _verify(world, token, world.patient, binding=False)
    assert result.codes == [ReasonCode.HOLDER_BINDING]
    assert _verify(world, token, world.patient, binding=True).codes == [
        ReasonCode.HOLDER_BINDING_REQUIRED
    ]


def test_unbound_presentation_of_an_expired_request_is_stale(world: World) -> None:
    token = _token(world.payer, world.vm, None, iss=world.payer.did_key)
    req = PresentationRequest.new(
        VCT, ("memberId",), AUD, max_age=1, now=time.time() - 60, holder_binding=False
    )
    result = world.verifier.verify_sd_jwt(present(token, req.claims, None, AUD, req.nonce), req)
    assert result.codes == [ReasonCode.STALE_PRESENTATION]


def test_request_round_trips_its_binding_demand() -> None:
    req = PresentationRequest.new(VCT, ("memberId",), AUD, holder_binding=False)
    assert PresentationRequest.from_json(req.to_json()) == req
    legacy = {k: v for k, v in req.to_json().items() if k != "holder_binding"}
    assert PresentationRequest.from_json(legacy).holder_binding is True
    with pytest.raises(CredentialFormatError, match="holder_binding"):
        PresentationRequest.from_json({**req.to_json(), "holder_binding": "no"})
