"""The credentials Protocols backed by the ledger (DID method, status list source, trust registry)
on a real embedded network, and the demo's credentials chapter end to end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.harness import TEST_CUTTER, running

from careledger.credentials import INSURANCE_COVERAGE, ReasonCode, issue_credential
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.ledger import (
    GatewaySuspended,
    LedgerDidRegistry,
    LedgerStatusListSource,
    LedgerTrustRegistry,
    StatusListPublisher,
    TrustRegistryAdmin,
    gateway_query,
    ledger_resolver,
    ledger_verifier,
)
from careledger.credentials.status.bitstring import StatusListIssuer, StatusPurpose
from careledger.identity.did import Ed25519Signer, ResolutionError
from careledger.node.consortium import ConsortiumConfig, init_consortium
from careledger.sim.demo import ORGS, DemoContext
from careledger.sim.demo_credentials import CREDENTIAL_STORY

IDENTITY = ("dids", "status_lists", "trust_registry")
CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
}


def _sign_list(lists: StatusListIssuer, signer: Ed25519Signer) -> dict[str, Any]:
    vm = ProofOptions(f"{lists.issuer}#key-1")
    return add_proof(lists.credential(), signer, vm, Cryptosuite.EDDSA_JCS_2022)


def test_verifier_reads_dids_trust_and_status_from_the_ledger(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=IDENTITY) as net:
            admin = net.gateway("Org1", "admin")
            payer = Ed25519Signer()
            did = await LedgerDidRegistry(admin).create(payer)
            trust = TrustRegistryAdmin(admin)
            await trust.bind_issuer(did, payer)
            await trust.accredit(did, INSURANCE_COVERAGE.name)
            lists = StatusListIssuer("https://org1.example/status/7", did, StatusPurpose.REVOCATION)
            entry = lists.allocate()
            publisher = StatusListPublisher(admin)
            await publisher.publish(_sign_list(lists, payer))

            # The verifier is another organisation's: it reads everything from its own peer.
            query = gateway_query(net.gateway("Org2"))
            resolver = ledger_resolver(query, cache_ttl=0)
            verifier = ledger_verifier(query, resolver)
            credential = issue_credential(
                INSURANCE_COVERAGE,
                payer,
                f"{did}#key-1",
                Ed25519Signer().did_key,
                {**CLAIMS, "payerId": did},
                suite=Cryptosuite.EDDSA_JCS_2022,
                valid_until=datetime.now(UTC) + timedelta(days=30),
                status=[entry],
            )
            assert verifier.verify_credential(credential).ok

            lists.set_status(int(entry["statusListIndex"]), True)
            await publisher.publish(_sign_list(lists, payer))
            revoked = verifier.verify_credential(credential)
            assert revoked.codes == [ReasonCode.REVOKED]
            assert "revoked" in str(revoked.reasons[0])

            await trust.withdraw(did, INSURANCE_COVERAGE.name)
            assert ReasonCode.ISSUER_UNTRUSTED in verifier.verify_credential(credential).codes

            # Rotating the issuer's key on the ledger: the old signature no longer resolves.
            await LedgerDidRegistry(admin).rotate_keys(did, [Ed25519Signer().public_key], payer)
            after = verifier.verify_credential(credential)
            assert after.codes[0] in (ReasonCode.PROOF_INVALID, ReasonCode.KEY_UNRESOLVED)

    asyncio.run(scenario())


def test_ledger_faults_are_reported_not_trusted(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:  # nothing approved yet
            query = gateway_query(net.gateway("Org1"))
            result = ledger_resolver(query).resolve("did:careledger:4uoacWpN79JnYxxxxxxx")
            assert result.error is ResolutionError.INTERNAL_ERROR
            assert not LedgerTrustRegistry(query).is_trusted("did:key:z6Mk", "X")
            with pytest.raises(OSError, match="ledger"):
                LedgerStatusListSource(query).get("https://org1.example/status/1")

    asyncio.run(scenario())


class _RemoteGateway:
    """A gateway whose evaluate really waits (as an HTTP client's would)."""

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any:
        await asyncio.sleep(0)
        return None


def test_gateway_query_refuses_a_gateway_that_waits() -> None:
    async def scenario() -> None:
        query = gateway_query(_RemoteGateway())  # type: ignore[arg-type]
        with pytest.raises(GatewaySuspended):
            query("dids", "resolve", ["did:careledger:x", None, None])

    asyncio.run(scenario())


def test_demo_credentials_story(tmp_path: Path) -> None:
    from careledger.node.network import EmbeddedNetwork

    config = init_consortium(tmp_path / "demo", ORGS, cutter=TEST_CUTTER)

    async def scenario() -> list[str]:
        net = EmbeddedNetwork(config)
        await net.start()
        ctx = DemoContext(net)
        try:
            return [await step(ctx) for _, step in CREDENTIAL_STORY]
        finally:
            await net.stop()

    lines = asyncio.run(scenario())
    assert "verifies against the ledger" in lines[1]
    assert "'memberId': 'M-7F3A-0042', 'planId': 'GOLD-PPO'" in lines[3]
    assert "planName" not in lines[3].split("not disclosed")[0]
    assert "list #2" in lines[4]
    assert "refused the next presentation — revoked" in lines[5]
