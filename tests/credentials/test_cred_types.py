"""Credential types validate claims at issuance and produce credentials that verify."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from careledger.credentials import (
    IMMUNIZATION,
    PRACTITIONER_LICENSE,
    Cryptosuite,
    InMemoryTrustRegistry,
    SchemaError,
    Verifier,
    credential_type,
    issue_credential,
)
from careledger.identity.did import Ed25519Signer

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

IMMUNIZATION_CLAIMS = {
    "vaccineCode": "208",
    "vaccineDisplay": "COVID-19, mRNA, 30 mcg/0.3mL",
    "occurrenceDate": "2024-10-01",
    "lotNumber": "EW0182",
}
LICENSE_CLAIMS = {
    "licenseNumber": "MD-44123",
    "jurisdiction": "US-CA",
    "specialty": "Cardiology",
    "practitionerName": "Dr. Ada Example",
    "licenseStart": "2024-01-01",
    "licenseEnd": "2026-12-31",
}


@pytest.mark.parametrize("suite", [Cryptosuite.EDDSA_RDFC_2022, Cryptosuite.EDDSA_JCS_2022])
def test_immunization_and_license_issue_and_verify(world: World, suite: Cryptosuite) -> None:
    provider, board = Ed25519Signer(), Ed25519Signer()
    trust = InMemoryTrustRegistry()
    trust.trust(provider.did_key, IMMUNIZATION.name)
    trust.trust(board.did_key, PRACTITIONER_LICENSE.name)
    verifier = Verifier(world.resolver, trust, world.source)
    imm = issue_credential(
        IMMUNIZATION,
        provider,
        provider.did_key_verification_method,
        world.patient.did_key,
        {**IMMUNIZATION_CLAIMS, "performerId": provider.did_key},
        suite=suite,
    )
    assert verifier.verify_credential(imm, IMMUNIZATION.name).ok
    lic = issue_credential(
        PRACTITIONER_LICENSE,
        board,
        board.did_key_verification_method,
        "did:key:z6MkpractitionerExample",
        LICENSE_CLAIMS,
        suite=suite,
    )
    assert verifier.verify_credential(lic, PRACTITIONER_LICENSE.name).ok
    # A provider is not a licensing board.
    forged = issue_credential(
        PRACTITIONER_LICENSE,
        provider,
        provider.did_key_verification_method,
        "did:key:z6Mkx",
        LICENSE_CLAIMS,
        suite=suite,
    )
    assert not verifier.verify_credential(forged).ok


@pytest.mark.parametrize(
    ("kind", "bad", "field"),
    [
        (
            IMMUNIZATION,
            {**IMMUNIZATION_CLAIMS, "performerId": "did:key:z", "vaccineCode": "ABC"},
            "vaccineCode",
        ),
        (IMMUNIZATION, {**IMMUNIZATION_CLAIMS, "performerId": "did:key:z", "extra": 1}, "extra"),
        (PRACTITIONER_LICENSE, {**LICENSE_CLAIMS, "licenseEnd": "2020-01-01"}, "before"),
        (PRACTITIONER_LICENSE, {**LICENSE_CLAIMS, "jurisdiction": "California"}, "jurisdiction"),
        (
            PRACTITIONER_LICENSE,
            {k: v for k, v in LICENSE_CLAIMS.items() if k != "specialty"},
            "specialty",
        ),
    ],
)
def test_schema_rejects(kind: object, bad: dict[str, object], field: str) -> None:
    with pytest.raises(SchemaError, match=field):
        kind.validate(bad)  # type: ignore[attr-defined]


def test_lookup_by_name_or_vct() -> None:
    assert credential_type("ImmunizationCredential") is IMMUNIZATION
    assert credential_type(IMMUNIZATION.vct) is IMMUNIZATION
    with pytest.raises(SchemaError):
        credential_type("Nope")
