"""Issuing with each cryptosuite, and the JSON-LD safety checks around RDF canonicalization."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    CredentialFormatError,
    Cryptosuite,
    ProofOptions,
    UnknownContext,
    add_proof,
    build_credential,
    verify_proof,
)
from careledger.credentials.canonical import rdfc, rdfc_pair
from careledger.credentials.document_loader import load_document, register_context
from careledger.credentials.results import ReasonCode

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

V1_CONTEXTS = [
    "https://www.w3.org/2018/credentials/v1",
    "https://w3id.org/security/suites/ed25519-2020/v1",
    "https://careledger.dev/contexts/health/v1",
]


def _unsigned(world: World, suite: Cryptosuite) -> dict[str, Any]:
    doc = build_credential(
        INSURANCE_COVERAGE, world.payer.did_key, world.patient.did_key, world.claims
    )
    if suite is Cryptosuite.ED25519_SIGNATURE_2020:
        doc["@context"] = V1_CONTEXTS
        doc["issuanceDate"] = doc.pop("validFrom")
    return doc


@pytest.mark.parametrize("suite", list(Cryptosuite))
def test_round_trip_and_tamper(world: World, suite: Cryptosuite) -> None:
    signed = add_proof(_unsigned(world, suite), world.payer, ProofOptions(world.vm), suite)
    assert verify_proof(signed, world.resolver).ok
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["planName"] = "Platinum"
    assert verify_proof(tampered, world.resolver).codes == [ReasonCode.PROOF_INVALID]


def test_proof_shapes(world: World) -> None:
    rdfc_signed = add_proof(
        _unsigned(world, Cryptosuite.EDDSA_RDFC_2022), world.payer, ProofOptions(world.vm)
    )
    assert rdfc_signed["proof"]["type"] == "DataIntegrityProof"
    assert rdfc_signed["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert rdfc_signed["proof"]["proofValue"].startswith("z")
    assert "@context" not in rdfc_signed["proof"]
    jcs_signed = add_proof(
        _unsigned(world, Cryptosuite.EDDSA_JCS_2022),
        world.payer,
        ProofOptions(world.vm),
        Cryptosuite.EDDSA_JCS_2022,
    )
    assert jcs_signed["proof"]["@context"] == jcs_signed["@context"]


def test_signing_refuses_undefined_terms(world: World) -> None:
    doc = _unsigned(world, Cryptosuite.EDDSA_RDFC_2022)
    doc["credentialSubject"]["favouriteColour"] = "blue"
    with pytest.raises(CredentialFormatError, match="not defined"):
        add_proof(doc, world.payer, ProofOptions(world.vm))


@pytest.mark.parametrize("exact", [False, True])
def test_verify_rejects_injected_undefined_term(world: World, exact: bool) -> None:
    signed = add_proof(
        _unsigned(world, Cryptosuite.EDDSA_RDFC_2022), world.payer, ProofOptions(world.vm)
    )
    # RDFC drops an undefined term, so the signature alone would still verify.
    signed["credentialSubject"]["memberTier"] = "VIP"
    result = verify_proof(signed, world.resolver, exact_terms=exact)
    assert result.codes == [ReasonCode.UNDEFINED_TERMS]
    assert "memberTier" in result.reasons[0].message


def test_unknown_context_is_never_fetched(world: World) -> None:
    with pytest.raises(UnknownContext, match="never fetched"):
        load_document("https://evil.example/context.jsonld")
    signed = add_proof(
        _unsigned(world, Cryptosuite.EDDSA_RDFC_2022), world.payer, ProofOptions(world.vm)
    )
    signed["@context"] = [*signed["@context"], "https://evil.example/context.jsonld"]
    result = verify_proof(signed, world.resolver)
    assert result.codes == [ReasonCode.MALFORMED]
    assert "evil.example" in result.reasons[0].message


def test_shipped_context_cannot_be_replaced() -> None:
    with pytest.raises(UnknownContext):
        register_context("https://www.w3.org/ns/credentials/v2", {"@context": {}})


def test_merged_canonicalization_equals_separate(world: World) -> None:
    doc = _unsigned(world, Cryptosuite.EDDSA_RDFC_2022)
    config = {
        "@context": doc["@context"],
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2025-01-01T00:00:00Z",
        "verificationMethod": world.vm,
        "proofPurpose": "assertionMethod",
    }
    assert rdfc_pair(doc, config) == (rdfc(doc), rdfc(config))


def test_wrong_proof_purpose_and_challenge(world: World) -> None:
    doc = _unsigned(world, Cryptosuite.EDDSA_JCS_2022)
    signed = add_proof(
        doc,
        world.payer,
        ProofOptions(world.vm, "authentication", challenge="c1", domain="clinic.example"),
        Cryptosuite.EDDSA_JCS_2022,
    )
    assert verify_proof(signed, world.resolver).codes == [ReasonCode.WRONG_PROOF_PURPOSE]
    assert verify_proof(signed, world.resolver, "authentication", "c1", "clinic.example").ok
    wrong = verify_proof(signed, world.resolver, "authentication", "c2", "clinic.example")
    assert wrong.codes == [ReasonCode.CHALLENGE_INVALID]


def test_missing_and_unsupported_proof(world: World) -> None:
    doc = _unsigned(world, Cryptosuite.EDDSA_RDFC_2022)
    assert verify_proof(doc, world.resolver).codes == [ReasonCode.PROOF_MISSING]
    doc["proof"] = {"type": "DataIntegrityProof", "cryptosuite": "ecdsa-rdfc-2019"}
    assert verify_proof(doc, world.resolver).codes == [ReasonCode.UNSUPPORTED_PROOF]
