"""IETF Token Status List for SD-JWT VCs: the draft's encoding, the issuer's list and token, and
the verifier reading ``status.status_list`` (and still the old ``bitstring_status_list``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    CredentialFormatError,
    PresentationRequest,
    ReasonCode,
    StatusListSource,
    Verifier,
    issue_sd_jwt_vc,
)
from careledger.credentials.jws import CompactJws
from careledger.credentials.sd_jwt import SdJwt, holder_jwk, issue, present
from careledger.credentials.status.token_list import (
    TokenStatus,
    TokenStatusList,
    TokenStatusListIssuer,
    node_list_uri,
)
from careledger.identity.did import Ed25519Signer

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

URI = node_list_uri("https://payer.example", "Org1", "coverage-1")
VCT = INSURANCE_COVERAGE.vct
AUD = "did:web:clinic.example"


class TokenSource:
    """Published tokens by URI, then the world's W3C lists (the ledger holds both in production)."""

    def __init__(self, lists: StatusListSource) -> None:
        self.tokens: dict[str, bytes] = {}
        self._lists = lists

    def get(self, url: str) -> bytes | None:
        return self.tokens.get(url) or self._lists.get(url)


# -- the draft's encoding ---------------------------------------------------------------------
def test_one_bit_vector_from_the_draft() -> None:
    statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    packed = TokenStatusList(16, 1)
    for index, value in enumerate(statuses):
        packed.set(index, value)
    assert packed.encode() == "eNrbuRgAAhcBXQ"
    decoded = TokenStatusList.decode("eNrbuRgAAhcBXQ", 1)
    assert [decoded.get(i) for i in range(16)] == statuses


def test_two_bit_vector_from_the_draft() -> None:
    decoded = TokenStatusList.decode("eNo76fITAAPfAgc", 2)
    assert [decoded.get(i) for i in range(12)] == [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]


@pytest.mark.parametrize(
    ("lst", "bits", "match"),
    [
        ("eNrbuRgAAhcBXQ", 3, "bits"),
        ("not-zlib", 1, "does not decode"),
        ("eNrbuRgAAhcB", 1, "truncated"),
    ],
)
def test_bad_lists_are_refused(lst: str, bits: int, match: str) -> None:
    with pytest.raises(CredentialFormatError, match=match):
        TokenStatusList.decode(lst, bits)


def test_status_value_must_fit() -> None:
    with pytest.raises(CredentialFormatError, match="does not fit"):
        TokenStatusList(8, 1).set(0, 2)


# -- issuing and checking ------------------------------------------------------------------------
def _setup(world: World, bits: int = 1) -> tuple[TokenStatusListIssuer, TokenSource]:
    lists = TokenStatusListIssuer(URI, world.vm, size=1024, bits=bits)
    source = TokenSource(world.source)
    world.verifier = Verifier(world.resolver, world.trust, source)
    return lists, source


def _publish(world: World, lists: TokenStatusListIssuer, source: TokenSource, **kw: int) -> None:
    source.tokens[lists.uri] = lists.token(world.payer, **kw).encode()


def _verify(world: World, token: str) -> list[ReasonCode]:
    req = PresentationRequest.new(VCT, ("memberId",), AUD)
    presentation = present(token, req.claims, world.patient, AUD, req.nonce)
    return world.verifier.verify_sd_jwt(presentation, req).codes


def _credential(world: World, reference: dict[str, object], **kw: object) -> str:
    return issue_sd_jwt_vc(
        INSURANCE_COVERAGE,
        world.payer,
        world.vm,
        world.claims,
        holder_jwk(world.patient),
        status_list=reference,
        **kw,  # type: ignore[arg-type]
    )


def test_status_list_token_shape(world: World) -> None:
    lists, _source = _setup(world)
    token = CompactJws.parse(lists.token(world.payer, now=1000, ttl=60))
    assert token.header == {"alg": "EdDSA", "typ": "statuslist+jwt", "kid": world.vm}
    assert token.payload["sub"] == URI
    assert token.payload["iss"] == world.payer.did_key
    assert (token.payload["iat"], token.payload["ttl"]) == (1000, 60)
    assert token.payload["status_list"]["bits"] == 1


def test_credential_carries_the_ietf_reference(world: World) -> None:
    lists, _source = _setup(world)
    reference = lists.allocate()
    payload = CompactJws.parse(SdJwt.parse(_credential(world, reference)).issuer_jwt).payload
    assert payload["status"] == {"status_list": reference["status_list"]}
    assert set(reference["status_list"]) == {"idx", "uri"}


def test_revoked_credential_is_refused(world: World) -> None:
    lists, source = _setup(world)
    reference = lists.allocate()
    other = lists.allocate()
    token = _credential(world, reference)
    _publish(world, lists, source)
    assert _verify(world, token) == []
    lists.set_status(reference["status_list"]["idx"], TokenStatus.INVALID)
    _publish(world, lists, source)
    assert _verify(world, token) == [ReasonCode.REVOKED]
    assert _verify(world, _credential(world, other)) == []
    with pytest.raises(CredentialFormatError, match="cannot be undone"):
        lists.set_status(reference["status_list"]["idx"], TokenStatus.VALID)


def test_suspension_and_reinstatement_with_two_bits(world: World) -> None:
    lists, source = _setup(world, bits=2)
    reference = lists.allocate()
    token = _credential(world, reference)
    lists.set_status(reference["status_list"]["idx"], TokenStatus.SUSPENDED)
    _publish(world, lists, source)
    assert _verify(world, token) == [ReasonCode.SUSPENDED]
    lists.set_status(reference["status_list"]["idx"], TokenStatus.VALID)
    _publish(world, lists, source)
    assert _verify(world, token) == []


def test_both_mechanisms_are_checked(world: World) -> None:
    lists, source = _setup(world)
    _publish(world, lists, source)
    entry = world.revocation.allocate()
    token = _credential(world, lists.allocate(), status=[entry])
    world.revocation.set_status(int(entry["statusListIndex"]), True)
    world.publish_lists()
    assert _verify(world, token) == [ReasonCode.REVOKED]


@pytest.mark.parametrize("fault", ["unpublished", "forged", "other_sub", "expired", "not_jwt"])
def test_an_untrustworthy_list_makes_status_unavailable(world: World, fault: str) -> None:
    lists, source = _setup(world)
    token = _credential(world, lists.allocate())
    _publish(world, lists, source)
    if fault == "unpublished":
        source.tokens.clear()
    elif fault == "forged":
        source.tokens[URI] = lists.token(Ed25519Signer()).encode()
    elif fault == "other_sub":
        moved = TokenStatusListIssuer(URI + "x", world.vm, size=1024)
        source.tokens[URI] = moved.token(world.payer).encode()
    elif fault == "expired":
        source.tokens[URI] = lists.token(world.payer, now=time.time() - 7200, lifetime=60).encode()
    else:
        source.tokens[URI] = b"{}"
    assert _verify(world, token) == [ReasonCode.STATUS_UNAVAILABLE]


def test_another_issuers_list_is_not_trusted(world: World) -> None:
    _lists, source = _setup(world)
    stranger = Ed25519Signer()
    theirs = TokenStatusListIssuer(URI, stranger.did_key_verification_method, size=1024)
    token = _credential(world, theirs.allocate())
    source.tokens[URI] = theirs.token(stranger).encode()
    assert _verify(world, token) == [ReasonCode.STATUS_UNAVAILABLE]


@pytest.mark.parametrize("reference", [{"idx": -1, "uri": URI}, {"idx": "3", "uri": URI}, []])
def test_malformed_reference(world: World, reference: object) -> None:
    _setup(world)
    payload = {
        "iss": world.payer.did_key,
        "vct": VCT,
        "iat": int(time.time()),
        "memberId": "M-1",
        "status": {"status_list": reference},
    }
    token = issue(payload, ["memberId"], world.payer, world.vm, holder_jwk(world.patient))
    assert _verify(world, token) == [ReasonCode.MALFORMED]
