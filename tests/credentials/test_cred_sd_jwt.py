"""SD-JWT VC: issue, present a subset with key binding, verify; and every rejection path."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING

import pytest

from careledger.credentials import INSURANCE_COVERAGE, PresentationRequest, issue_sd_jwt_vc
from careledger.credentials.jws import sign_compact
from careledger.credentials.results import ReasonCode
from careledger.credentials.sd_jwt import Disclosure, SdJwt, decode, holder_jwk, issue, present
from careledger.identity.did import Ed25519Signer

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

VCT = INSURANCE_COVERAGE.vct
AUD = "did:web:clinic.example"


def _token(world: World, **kw: object) -> str:
    return issue_sd_jwt_vc(
        INSURANCE_COVERAGE, world.payer, world.vm, world.claims, holder_jwk(world.patient), **kw
    )  # type: ignore[arg-type]


def _request(claims: tuple[str, ...] = ("memberId", "planName")) -> PresentationRequest:
    return PresentationRequest.new(VCT, claims, AUD)


def _present(
    world: World, token: str, req: PresentationRequest, reveal: tuple[str, ...] | None = None
) -> str:

    return present(token, reveal or req.claims, world.patient, req.audience, req.nonce)


def test_issued_token_shape(world: World) -> None:
    token = _token(world)
    parsed = SdJwt.parse(token)
    header = json.loads(base64.urlsafe_b64decode(parsed.issuer_jwt.split(".")[0] + "=="))
    assert header["typ"] == "dc+sd-jwt"
    assert header["alg"] == "EdDSA"
    assert header["kid"] == world.vm
    decoded = decode(parsed)
    payload = decoded.jws.payload
    assert "memberId" not in payload
    assert len(payload["_sd"]) == 7 + 2
    assert payload["cnf"]["jwk"]["crv"] == "Ed25519"
    assert decoded.claims["memberId"] == "M-1002003"
    for encoded in parsed.disclosures:
        salt = Disclosure.parse(encoded).salt
        assert len(base64.urlsafe_b64decode(salt + "==")) >= 16


def test_present_only_requested(world: World) -> None:
    token = _token(world, status=[world.revocation.allocate()])
    req = _request()
    presentation = _present(world, token, req)
    assert len(SdJwt.parse(presentation).disclosures) == 2
    result = world.verifier.verify_sd_jwt(presentation, req)
    assert result.ok, result.reasons
    assert result.claims["memberId"] == "M-1002003"
    assert result.claims["planName"] == "Gold PPO"
    assert "coverageEnd" not in result.claims


def test_legacy_typ_accepted(world: World) -> None:
    payload = {"iss": world.payer.did_key, "vct": VCT, "iat": int(time.time()), "memberId": "M1"}
    token = issue(
        payload, ["memberId"], world.payer, world.vm, holder_jwk(world.patient), typ="vc+sd-jwt"
    )
    req = _request(("memberId",))
    assert world.verifier.verify_sd_jwt(_present(world, token, req), req).ok


def test_replay_rejected(world: World) -> None:
    req = _request()
    presentation = _present(world, _token(world), req)
    assert world.verifier.verify_sd_jwt(presentation, req).ok
    again = world.verifier.verify_sd_jwt(presentation, req)
    assert again.codes == [ReasonCode.NONCE_MISMATCH]


def test_wrong_nonce_rejected(world: World) -> None:
    token, req = _token(world), _request()
    presentation = present(token, req.claims, world.patient, req.audience, "other-nonce")
    assert world.verifier.verify_sd_jwt(presentation, req).codes == [ReasonCode.NONCE_MISMATCH]


def test_wrong_audience_rejected(world: World) -> None:
    token, req = _token(world), _request()
    presentation = present(token, req.claims, world.patient, "did:web:other.example", req.nonce)
    assert world.verifier.verify_sd_jwt(presentation, req).codes == [ReasonCode.AUDIENCE_MISMATCH]


def test_presentation_to_other_verifier_replayed_here(world: World) -> None:
    token = _token(world)
    theirs = PresentationRequest.new(VCT, ("memberId",), "did:web:other.example")
    stolen = _present(world, token, theirs)
    ours = PresentationRequest(VCT, ("memberId",), AUD, theirs.nonce, time.time())
    codes = world.verifier.verify_sd_jwt(stolen, ours).codes
    assert codes == [ReasonCode.AUDIENCE_MISMATCH]


def test_extra_disclosure_rejected(world: World) -> None:
    token, req = _token(world), _request(("memberId",))
    presentation = _present(world, token, req, reveal=("memberId", "coverageEnd"))
    result = world.verifier.verify_sd_jwt(presentation, req)
    assert result.codes == [ReasonCode.CLAIM_NOT_REQUESTED]
    assert "coverageEnd" in result.reasons[0].message


def test_missing_requested_claim(world: World) -> None:
    token, req = _token(world), _request(("memberId", "planName"))
    presentation = _present(world, token, req, reveal=("memberId",))
    assert world.verifier.verify_sd_jwt(presentation, req).codes == [ReasonCode.CLAIM_MISSING]


def test_disclosure_added_after_kb_breaks_sd_hash(world: World) -> None:
    token, req = _token(world), _request(("memberId",))
    full = SdJwt.parse(token)
    presentation = SdJwt.parse(_present(world, token, req))
    extra = next(d for d in full.disclosures if d not in presentation.disclosures)
    forged = SdJwt(
        presentation.issuer_jwt, (*presentation.disclosures, extra), presentation.kb_jwt
    ).serialize()
    codes = world.verifier.verify_sd_jwt(forged, req).codes
    assert ReasonCode.SD_HASH_MISMATCH in codes


def test_tampered_disclosure_rejected(world: World) -> None:
    token, req = _token(world), _request(("memberId",))
    parsed = SdJwt.parse(token)
    fake = Disclosure.create("memberId", "SOMEONE-ELSE").encoded
    forged = SdJwt(parsed.issuer_jwt, (fake,), None).presentation_prefix
    result = world.verifier.verify_sd_jwt(forged, req)
    assert result.codes == [ReasonCode.DISCLOSURE_INVALID]


def test_holder_binding_required(world: World) -> None:
    token, req = _token(world), _request(("memberId",))
    no_kb = present(token, req.claims, None, AUD, req.nonce)
    assert world.verifier.verify_sd_jwt(no_kb, req).codes == [ReasonCode.HOLDER_BINDING_REQUIRED]
    thief = Ed25519Signer()
    stolen = present(token, req.claims, thief, AUD, req.nonce)
    assert world.verifier.verify_sd_jwt(stolen, req).codes == [ReasonCode.HOLDER_BINDING]


def test_stale_kb_jwt(world: World) -> None:
    token, req = _token(world), _request(("memberId",))
    old = present(
        token, req.claims, world.patient, AUD, req.nonce, clock=lambda: time.time() - 3600
    )
    assert world.verifier.verify_sd_jwt(old, req).codes == [ReasonCode.STALE_PRESENTATION]


def test_expired_sd_jwt(world: World) -> None:
    token = _token(world, now=time.time() - 400 * 86400)
    req = _request(("memberId",))
    assert world.verifier.verify_sd_jwt(_present(world, token, req), req).codes == [
        ReasonCode.EXPIRED
    ]


def test_revoked_and_untrusted(world: World) -> None:
    entry = world.revocation.allocate()
    token = _token(world, status=[entry])
    world.revocation.set_status(int(entry["statusListIndex"]), True)
    world.publish_lists()
    req = _request(("memberId",))
    assert world.verifier.verify_sd_jwt(_present(world, token, req), req).codes == [
        ReasonCode.REVOKED
    ]
    world.trust.revoke(world.payer.did_key)
    req2 = _request(("memberId",))
    codes = world.verifier.verify_sd_jwt(_present(world, token, req2), req2).codes
    assert codes == [ReasonCode.ISSUER_UNTRUSTED, ReasonCode.REVOKED]


def test_forged_issuer_signature(world: World) -> None:
    token, req = _token(world), _request(("memberId",))
    parsed = SdJwt.parse(token)
    jws = decode(parsed).jws
    forged_jwt = sign_compact(jws.header, jws.payload, Ed25519Signer())
    forged = SdJwt(forged_jwt, parsed.disclosures, None).serialize()
    presentation = present(forged, req.claims, world.patient, AUD, req.nonce)
    assert world.verifier.verify_sd_jwt(presentation, req).codes == [ReasonCode.PROOF_INVALID]


def test_nested_and_unknown_path() -> None:
    signer, holder = Ed25519Signer(), Ed25519Signer()
    claims = {"iss": signer.did_key, "vct": "x", "address": {"street": "1 Main", "city": "Oslo"}}
    token = issue(
        claims,
        ["address", "address.street"],
        signer,
        signer.did_key_verification_method,
        holder_jwk(holder),
    )
    shown = present(token, ["address.city"], holder, "aud", "n")
    decoded = decode(SdJwt.parse(shown))
    assert decoded.claims["address"] == {"city": "Oslo"}
    with pytest.raises(Exception, match="not in the credential"):
        issue(claims, ["phone"], signer, signer.did_key_verification_method)
