"""DID authentication: challenges are single-use, expire, and prove control of the DID."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careledger.credentials.did_auth import ChallengeService, respond
from careledger.credentials.results import ReasonCode
from careledger.identity.did import Ed25519Signer

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_challenge_response(world: World) -> None:
    clock = Clock()
    service = ChallengeService("did:web:hospital.example", world.resolver, ttl=60, clock=clock)
    challenge = service.issue()
    answer = respond(challenge, world.patient, world.patient.did_key_verification_method, clock)
    result = service.verify(answer)
    assert result.ok
    assert result.issuer == world.patient.did_key
    assert service.verify(answer).codes == [ReasonCode.CHALLENGE_INVALID]  # single use


def test_expired_challenge(world: World) -> None:
    clock = Clock()
    service = ChallengeService("did:web:hospital.example", world.resolver, ttl=60, clock=clock)
    challenge = service.issue()
    answer = respond(challenge, world.patient, world.patient.did_key_verification_method, clock)
    clock.now += 61
    assert service.verify(answer).codes == [ReasonCode.CHALLENGE_INVALID]


def test_someone_else_signs_for_the_did(world: World) -> None:
    service = ChallengeService("did:web:hospital.example", world.resolver)
    challenge = service.issue()
    impostor = Ed25519Signer()
    answer = respond(challenge, impostor, world.patient.did_key_verification_method)
    assert service.verify(answer).codes == [ReasonCode.PROOF_INVALID]


def test_wrong_audience(world: World) -> None:
    hospital = ChallengeService("did:web:hospital.example", world.resolver)
    challenge = hospital.issue()
    other = type(challenge)(challenge.nonce, "did:web:evil.example", challenge.expires_at)
    answer = respond(other, world.patient, world.patient.did_key_verification_method)
    assert hospital.verify(answer).codes == [ReasonCode.AUDIENCE_MISMATCH]
