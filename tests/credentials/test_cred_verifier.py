"""Acceptance: one verify call rejects each kind of bad credential with a clear reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    Cryptosuite,
    InMemoryTrustRegistry,
    Verifier,
    issue_credential,
)
from careledger.credentials.results import ReasonCode
from careledger.identity.did import Ed25519Signer

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

SUITES = [Cryptosuite.EDDSA_RDFC_2022, Cryptosuite.EDDSA_JCS_2022]


def _issue(world: World, suite: Cryptosuite, **kw: object) -> dict[str, object]:
    return issue_credential(
        INSURANCE_COVERAGE,
        world.payer,
        world.vm,
        world.patient.did_key,
        world.claims,
        suite=suite,
        **kw,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("suite", SUITES)
def test_valid_credential(world: World, suite: Cryptosuite) -> None:
    vc = _issue(world, suite, status=[world.revocation.allocate(), world.suspension.allocate()])
    result = world.verifier.verify_credential(vc, INSURANCE_COVERAGE.name)
    assert result.ok, result.reasons
    assert result.issuer == world.payer.did_key
    assert result.claims["memberId"] == "M-1002003"


@pytest.mark.parametrize("suite", SUITES)
def test_revoked_then_rejected(world: World, suite: Cryptosuite) -> None:
    entry = world.revocation.allocate()
    vc = _issue(world, suite, status=[entry])
    world.revocation.set_status(int(entry["statusListIndex"]), True)
    world.publish_lists()
    result = world.verifier.verify_credential(vc)
    assert result.codes == [ReasonCode.REVOKED]
    assert "revoked" in str(result.reasons[0])


@pytest.mark.parametrize("suite", SUITES)
def test_suspended_then_reinstated(world: World, suite: Cryptosuite) -> None:
    entry = world.suspension.allocate()
    vc = _issue(world, suite, status=[entry])
    index = int(entry["statusListIndex"])
    world.suspension.set_status(index, True)
    world.publish_lists()
    assert world.verifier.verify_credential(vc).codes == [ReasonCode.SUSPENDED]
    world.suspension.set_status(index, False)
    world.publish_lists()
    assert world.verifier.verify_credential(vc).ok


def test_expired_and_not_yet_valid(world: World) -> None:
    now = datetime.now(UTC)
    expired = _issue(
        world,
        Cryptosuite.EDDSA_JCS_2022,
        valid_from=now - timedelta(days=30),
        valid_until=now - timedelta(days=1),
    )
    assert world.verifier.verify_credential(expired).codes == [ReasonCode.EXPIRED]
    future = _issue(world, Cryptosuite.EDDSA_JCS_2022, valid_from=now + timedelta(days=1))
    assert world.verifier.verify_credential(future).codes == [ReasonCode.NOT_YET_VALID]


def test_untrusted_issuer(world: World) -> None:
    rogue = Ed25519Signer()
    vc = issue_credential(
        INSURANCE_COVERAGE,
        rogue,
        rogue.did_key_verification_method,
        world.patient.did_key,
        {**world.claims, "payerId": rogue.did_key},
    )
    result = world.verifier.verify_credential(vc)
    assert result.codes == [ReasonCode.ISSUER_UNTRUSTED]
    assert "not trusted to issue InsuranceCoverageCredential" in result.reasons[0].message


def test_trusted_for_another_type_only(world: World) -> None:
    trust = InMemoryTrustRegistry()
    trust.trust(world.payer.did_key, "ImmunizationCredential")
    verifier = Verifier(world.resolver, trust, world.source)
    vc = _issue(world, Cryptosuite.EDDSA_JCS_2022)
    assert verifier.verify_credential(vc).codes == [ReasonCode.ISSUER_UNTRUSTED]


def test_issuer_swapped_to_other_did(world: World) -> None:
    vc = _issue(world, Cryptosuite.EDDSA_JCS_2022)
    vc["issuer"] = Ed25519Signer().did_key
    assert ReasonCode.PROOF_INVALID in world.verifier.verify_credential(vc).codes


def test_signed_by_someone_else_claiming_issuer(world: World) -> None:
    rogue = Ed25519Signer()
    vc = issue_credential(
        INSURANCE_COVERAGE,
        rogue,
        world.vm,
        world.patient.did_key,
        world.claims,
        suite=Cryptosuite.EDDSA_JCS_2022,
    )
    assert world.verifier.verify_credential(vc).codes == [ReasonCode.PROOF_INVALID]


def test_status_list_missing_or_forged(world: World) -> None:
    entry = {**world.revocation.allocate(), "statusListCredential": "https://payer.example/none"}
    vc = _issue(world, Cryptosuite.EDDSA_JCS_2022, status=[entry])
    assert world.verifier.verify_credential(vc).codes == [ReasonCode.STATUS_UNAVAILABLE]
    # A list signed by someone other than the issuer is not accepted.
    rogue = Ed25519Signer()
    forged = world.revocation.credential()
    from careledger.credentials import ProofOptions, add_proof

    world.source.publish(add_proof(forged, rogue, ProofOptions(rogue.did_key_verification_method)))
    vc2 = _issue(world, Cryptosuite.EDDSA_JCS_2022, status=[world.revocation.allocate()])
    assert world.verifier.verify_credential(vc2).codes == [ReasonCode.STATUS_UNAVAILABLE]
