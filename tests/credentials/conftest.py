"""Shared fixtures: a payer, a clinic, a patient wallet key, resolver, trust, status lists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    InMemoryStatusListSource,
    InMemoryTrustRegistry,
    ProofOptions,
    StatusListIssuer,
    StatusPurpose,
    Verifier,
    add_proof,
)
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer

VECTORS = Path("/work/shared/vectors/w3c-vc-di-eddsa")
if not VECTORS.exists():  # CI clones shared/ beside the repo
    VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "w3c-vc-di-eddsa"

CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
    "coverageEnd": "2027-12-31",
}


@dataclass
class World:
    payer: Ed25519Signer
    patient: Ed25519Signer
    resolver: DidResolver
    trust: InMemoryTrustRegistry
    source: InMemoryStatusListSource
    revocation: StatusListIssuer
    suspension: StatusListIssuer
    verifier: Verifier

    @property
    def vm(self) -> str:
        return self.payer.did_key_verification_method

    @property
    def claims(self) -> dict[str, Any]:
        return {**CLAIMS, "payerId": self.payer.did_key}

    def publish_lists(self) -> None:
        for lst in (self.revocation, self.suspension):
            self.source.publish(add_proof(lst.credential(), self.payer, ProofOptions(self.vm)))


@pytest.fixture
def world() -> World:
    payer, patient = Ed25519Signer(), Ed25519Signer()
    resolver = DidResolver([DidKeyMethod()])
    trust = InMemoryTrustRegistry()
    trust.trust(payer.did_key, INSURANCE_COVERAGE.name, INSURANCE_COVERAGE.vct)
    source = InMemoryStatusListSource()
    base = "https://payer.example/status/"
    w = World(
        payer,
        patient,
        resolver,
        trust,
        source,
        StatusListIssuer(base + "r", payer.did_key, StatusPurpose.REVOCATION),
        StatusListIssuer(base + "s", payer.did_key, StatusPurpose.SUSPENSION),
        Verifier(resolver, trust, source),
    )
    w.publish_lists()
    return w


@pytest.fixture
def vectors() -> dict[str, dict[str, Any]]:
    """The W3C vc-di-eddsa vectors by file name."""
    if not VECTORS.exists():
        pytest.skip("shared/vectors/w3c-vc-di-eddsa is not beside the repository")
    return {p.name: json.loads(p.read_text()) for p in VECTORS.glob("*.json*")}
