"""The W3C vc-di-eddsa test vectors verify; tampered copies and wrong keys do not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from careledger.credentials import InMemoryStatusListSource, InMemoryTrustRegistry, Verifier
from careledger.credentials.data_integrity import verify_proof
from careledger.credentials.results import ReasonCode
from careledger.identity.did import DidKeyMethod, DidResolver

VECTOR_FILES = ["signedDataInt.json", "signedJCS.json"]
ISSUER = "https://vc.example/issuers/5678"


@pytest.fixture
def resolver(vectors: dict[str, dict[str, Any]]) -> DidResolver:
    r = DidResolver([DidKeyMethod()])
    r.add_controller_document(vectors["controller-document.json"])
    return r


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_vector_verifies(
    name: str, vectors: dict[str, dict[str, Any]], resolver: DidResolver
) -> None:
    result = verify_proof(vectors[name], resolver)
    assert result.ok, result.reasons


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_vector_verifies_end_to_end_with_trusted_issuer(
    name: str, vectors: dict[str, dict[str, Any]], resolver: DidResolver
) -> None:
    trust = InMemoryTrustRegistry()
    trust.trust(ISSUER, "AlumniCredential")
    result = Verifier(resolver, trust, InMemoryStatusListSource()).verify_credential(vectors[name])
    assert result.ok, result.reasons
    assert result.claims["alumniOf"] == "The School of Examples"


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_vector_with_exact_term_check(
    name: str, vectors: dict[str, dict[str, Any]], resolver: DidResolver
) -> None:
    assert verify_proof(vectors[name], resolver, exact_terms=True).ok


TAMPERS = [
    ("credentialSubject", lambda d: d["credentialSubject"].update(alumniOf="Evil U")),
    ("subject id", lambda d: d["credentialSubject"].update(id="did:example:mallory")),
    ("name", lambda d: d.update(name="Forged")),
    ("validFrom", lambda d: d.update(validFrom="2020-01-01T00:00:00Z")),
    ("type", lambda d: d.update(type=["VerifiableCredential"])),
    ("added claim", lambda d: d["credentialSubject"].update(degree="PhD")),
    ("proof created", lambda d: d["proof"].update(created="2023-02-24T23:36:39Z")),
    (
        "proofValue",
        lambda d: d["proof"].update(
            proofValue=d["proof"]["proofValue"][:-2]
            + ("11" if not d["proof"]["proofValue"].endswith("11") else "22")
        ),
    ),
]


@pytest.mark.parametrize("name", VECTOR_FILES)
@pytest.mark.parametrize(("what", "tamper"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampered_vector_fails(
    name: str, what: str, tamper: Any, vectors: dict[str, dict[str, Any]], resolver: DidResolver
) -> None:
    doc = copy.deepcopy(vectors[name])
    tamper(doc)
    result = verify_proof(doc, resolver)
    assert not result.ok
    assert result.codes[0] in (ReasonCode.PROOF_INVALID, ReasonCode.MALFORMED)


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_vector_with_wrong_key_fails(name: str, vectors: dict[str, dict[str, Any]]) -> None:
    from careledger.identity.did import Ed25519Signer

    other = Ed25519Signer().public_key.multikey
    controller = copy.deepcopy(vectors["controller-document.json"])
    controller["verificationMethod"][0]["publicKeyMultibase"] = other
    r = DidResolver([DidKeyMethod()])
    r.add_controller_document(controller)
    result = verify_proof(vectors[name], r)
    assert result.codes == [ReasonCode.PROOF_INVALID]


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_vector_key_not_in_assertion_method_fails(
    name: str, vectors: dict[str, dict[str, Any]]
) -> None:
    controller = copy.deepcopy(vectors["controller-document.json"])
    controller["assertionMethod"] = []
    r = DidResolver([DidKeyMethod()])
    r.add_controller_document(controller)
    result = verify_proof(vectors[name], r)
    assert result.codes == [ReasonCode.KEY_UNRESOLVED]
    assert "assertionMethod" in result.reasons[0].message
