"""The ``status_lists`` contract's IETF status list tokens: what it accepts, that revocation is
final whatever the bit width, and the ledger-backed verifier reading a token from the ledger."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.contracts.status_list_tokens import clears_a_revocation, parse_status_list_token
from careledger.credentials import INSURANCE_COVERAGE, PresentationRequest, ReasonCode
from careledger.credentials.credential_types import issue_sd_jwt_vc
from careledger.credentials.jws import sign_compact
from careledger.credentials.ledger import (
    LedgerStatusListSource,
    StatusListPublisher,
    TrustRegistryAdmin,
    gateway_query,
    ledger_verifier,
)
from careledger.credentials.sd_jwt import holder_jwk, present
from careledger.credentials.status.token_list import (
    TokenStatus,
    TokenStatusList,
    TokenStatusListIssuer,
    node_list_uri,
)
from careledger.errors import ContractError, InvalidInput
from careledger.identity.did import Ed25519Signer
from careledger.node.consortium import ConsortiumConfig
from tests.harness import running

URI = node_list_uri("https://org1.example", "Org1", "coverage-r")
SIGNER = Ed25519Signer(b"\x01" * 32)


def _token(payload_changes: dict[str, Any] | None = None, **header: Any) -> bytes:
    lists = TokenStatusListIssuer(URI, SIGNER.did_key_verification_method, size=64)
    payload = {
        "iss": SIGNER.did_key,
        "sub": URI,
        "iat": 1,
        "exp": 2,
        "ttl": 3,
        "status_list": lists.status_list.claim(),
        **(payload_changes or {}),
    }
    head = {"typ": "statuslist+jwt", "kid": SIGNER.did_key_verification_method, **header}
    return sign_compact(head, payload, SIGNER).encode()


def test_a_well_formed_token_is_located_by_its_uri() -> None:
    parsed = parse_status_list_token(_token())
    assert (parsed.org, parsed.name, parsed.issuer, parsed.bits) == (
        "Org1",
        "coverage-r",
        SIGNER.did_key,
        1,
    )
    assert parsed.statuses == bytes(8)
    loopback = node_list_uri("http://127.0.0.1:54321", "Org1", "r")
    assert parse_status_list_token(_token({"sub": loopback})).name == "r"


@pytest.mark.parametrize(
    ("payload", "header", "match"),
    [
        ({"sub": "http://org1.example/status-lists/Org1/r"}, {}, "sub must be"),
        ({"sub": "https://org1.example/lists/Org1/r"}, {}, "sub must be"),
        ({"note": "Jane Doe"}, {}, "not an acceptable"),
        ({"status_list": {"bits": 3, "lst": "eNo"}}, {}, "not an acceptable"),
        ({"status_list": {"bits": 1, "lst": "bm90LXpsaWI"}}, {}, "does not inflate"),
        ({"iss": "did:key:z6MkOther"}, {}, "kid is not a key of its iss"),
        ({}, {"typ": "JWT"}, "not an acceptable"),
        ({}, {"kid": None}, "not an acceptable"),
    ],
)
def test_anything_else_is_refused(
    payload: dict[str, Any], header: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_status_list_token(_token(payload, **header))


def test_not_a_jws_is_refused() -> None:
    for junk in (b"a.b", "é.b.c".encode(), b"a.b.c" + b"x" * 200_000):
        with pytest.raises(InvalidInput):
            parse_status_list_token(junk)
    body = base64.urlsafe_b64encode(json.dumps([1]).encode()).rstrip(b"=")
    with pytest.raises(InvalidInput):
        parse_status_list_token(b"e30." + body + b".c2ln")


@given(
    bits=st.sampled_from([1, 2, 4, 8]),
    old=st.lists(st.integers(0, 255), min_size=4, max_size=4),
    new=st.lists(st.integers(0, 255), min_size=4, max_size=4),
)
def test_clearing_a_revocation_is_detected_exactly(
    bits: int, old: list[int], new: list[int]
) -> None:
    before = TokenStatusList(32 // bits, bits, bytes(old))
    after = TokenStatusList(32 // bits, bits, bytes(new))
    expected = any(
        before.get(i) == TokenStatus.INVALID and after.get(i) != TokenStatus.INVALID
        for i in range(before.size)
    )
    assert clears_a_revocation(bytes(old), bytes(new), bits) is expected


def test_the_ledger_verifier_reads_tokens_from_the_ledger(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=("dids", "status_lists", "trust_registry")) as net:
            admin = net.gateway("Org1", "admin")
            payer, patient = Ed25519Signer(), Ed25519Signer()
            trust = TrustRegistryAdmin(admin)
            await trust.bind_issuer(payer.did_key, payer)
            await trust.accredit(payer.did_key, INSURANCE_COVERAGE.vct)
            lists = TokenStatusListIssuer(URI, payer.did_key_verification_method, size=1024)
            reference = lists.allocate()
            publisher = StatusListPublisher(admin)
            done = await publisher.publish_token(lists.token(payer))
            assert (done["org"], done["name"], done["sequence"]) == ("Org1", "coverage-r", 1)
            sd_jwt = issue_sd_jwt_vc(
                INSURANCE_COVERAGE,
                payer,
                payer.did_key_verification_method,
                {
                    "memberId": "M-1",
                    "planId": "P",
                    "planName": "Plan",
                    "payerId": payer.did_key,
                    "payerName": "Payer",
                    "coverageStart": "2025-01-01",
                },
                holder_jwk(patient),
                status_list=reference,
            )
            query = gateway_query(net.gateway("Org2"))  # another organisation's verifier
            verifier = ledger_verifier(query)

            def codes() -> list[ReasonCode]:
                req = PresentationRequest.new(INSURANCE_COVERAGE.vct, ("memberId",), "did:web:v")
                shown = present(sd_jwt, req.claims, patient, req.audience, req.nonce)
                return verifier.verify_sd_jwt(shown, req).codes

            assert codes() == []
            lists.set_status(reference["status_list"]["idx"], TokenStatus.INVALID)
            await publisher.publish_token(lists.token(payer))
            assert codes() == [ReasonCode.REVOKED]
            assert LedgerStatusListSource(query).get(URI + "-other") is None
            stranger = Ed25519Signer()
            foreign = TokenStatusListIssuer(
                node_list_uri("https://org1.example", "Org1", "other"),
                stranger.did_key_verification_method,
            )
            with pytest.raises(ContractError, match="not bound to Org1"):
                await publisher.publish_token(foreign.token(stranger))
            # The PHI guard screens the key and event: a name with a long digit run is refused.
            digits = TokenStatusListIssuer(
                node_list_uri("https://org1.example", "Org1", "list-12345"),
                payer.did_key_verification_method,
            )
            with pytest.raises(ContractError):
                await publisher.publish_token(digits.token(payer))

    asyncio.run(scenario())
