"""A wellness-visit campaign rewarding a paid claim (synthetic), for the demo's incentives
chapter and the paid-claim tests.

The payer is the sponsor: it anchors a coverage-credential issuer DID (accredited in the trust
registry for ``InsuranceCoverageCredential``) and issues the member a coverage credential naming
the payer's member id; a provider bills an annual wellness visit (``G0439``) that the ``claims``
contract adjudicates; the member presents the claim key with the coverage credential and a holder
proof; the payer's awarder (:class:`~careledger.incentives.claim_evidence.PaidClaimChecker`,
with the payer's member handles) checks it against its own claims on the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from careledger.contracts.incentives.terms import CampaignSpec, CatalogueItem, Rule
from careledger.contracts.payer.model import Claim, ClaimLine, ClaimParties
from careledger.credentials.credential_types import INSURANCE_COVERAGE, issue_credential
from careledger.credentials.data_integrity import Cryptosuite
from careledger.credentials.ledger import (
    LedgerDidRegistry,
    TrustRegistryAdmin,
    gateway_query,
    ledger_resolver,
    ledger_verifier,
)
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.awarding import Awarder, EvidenceKeys
from careledger.incentives.claim_evidence import MemberHandles, PaidClaimChecker
from careledger.incentives.evidence import ClaimEvidence
from careledger.incentives.wallet import MemberWallet
from careledger.node.network import EmbeddedNetwork

DAY_MS = 86_400_000
WELLNESS_CODES = ["HC:G0438", "HC:G0439"]
"""Medicare annual wellness visit, initial (G0438) and subsequent (G0439)."""
BILLING_NPI = "1234567893"


@dataclass
class CoverageIssuer:
    """The payer's coverage-credential issuer, anchored and accredited on the ledger."""

    payer: str
    signer: Ed25519Signer
    did: str

    def credential(self, subject: Ed25519Signer, member_id: str) -> dict[str, Any]:
        """A coverage credential to ``subject`` naming the payer's ``member_id``."""
        claims = {
            "memberId": member_id,
            "planId": "gold",
            "planName": "Gold PPO",
            "payerId": self.did,
            "payerName": self.payer,
            "coverageStart": "2026-01-01",
            "coverageEnd": "2026-12-31",
        }
        return issue_credential(
            INSURANCE_COVERAGE,
            self.signer,
            f"{self.did}#key-1",
            subject.did_key,
            claims,
            suite=Cryptosuite.EDDSA_JCS_2022,
        )


async def coverage_issuer(net: EmbeddedNetwork, payer: str) -> CoverageIssuer:
    """Anchor the payer's issuer DID and accredit it for coverage credentials (the ``dids``
    and ``trust_registry`` contracts must be approved)."""
    admin = net.gateway(payer, "admin")
    signer = Ed25519Signer()
    did = await LedgerDidRegistry(admin).create(signer)
    trust = TrustRegistryAdmin(admin)
    await trust.bind_issuer(did, signer)
    await trust.accredit(did, INSURANCE_COVERAGE.name)
    return CoverageIssuer(payer, signer, did)


def visit_claim(
    claim_id: str,
    payer: str,
    handle: str,
    member_id: str,
    *,
    code: str = "G0439",
    service: str = "2026-03-20",
    charge_cents: int = 17_500,
) -> tuple[Claim, ClaimParties]:
    """A one-line professional claim for ``code`` (a wellness visit by default)."""
    line = ClaimLine(1, code, charge_cents, 1, service, diagnosis_pointers=[1])
    claim = Claim(
        claim_id=claim_id,
        kind="professional",
        member=handle,
        payer=payer,
        billing_npi=BILLING_NPI,
        lines=[line],
        total_charge_cents=charge_cents,
        place_of_service="11",
        diagnoses=["Z0000"],
    )
    return claim, ClaimParties(member_id=member_id, subscriber_last="Doe", subscriber_first="Sam")


def wellness_spec(
    campaign: str, *, now_ms: int | None = None, budget: int = 100_000, max_age_days: int = 365
) -> CampaignSpec:
    """A value-based campaign: $25 for an annual wellness visit the payer paid, $50 a year."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    return CampaignSpec(
        id=campaign,
        program="value_based",
        point_value_cents=1,
        budget_points=budget,
        rules=[
            Rule(
                "wellness-visit",
                2_500,
                evidence="paid_claim",
                codes=WELLNESS_CODES,
                max_age_days=max_age_days,
                once_per_member=False,
            )
        ],
        catalogue=[CatalogueItem("fitness-class", 2_000, 2_000)],
        start=now - DAY_MS,
        end=now + 90 * DAY_MS,
        points_valid_until=now + 365 * DAY_MS,
        yearly_cap_cents=5_000,
    )


def claim_checker(
    net: EmbeddedNetwork,
    org: str,
    handles: MemberHandles | None,
    clock: Callable[[], float] = time.time,
) -> PaidClaimChecker:
    """A paid-claim checker reading ``org``'s peer, with that node's member handles."""
    query = gateway_query(net.gateway(org))
    resolver = ledger_resolver(query)
    return PaidClaimChecker(ledger_verifier(query, resolver), resolver, query, handles, clock)


def claim_awarder(
    net: EmbeddedNetwork, payer: str, handles: MemberHandles, keys: EvidenceKeys | None = None
) -> Awarder:
    """The payer's awarder for campaigns without an auditor."""
    return Awarder(
        net.gateway(payer), claim_checker(net, payer, handles), keys or EvidenceKeys(b"w" * 32)
    )


@dataclass
class Member:
    """A member: the DID key of their coverage credential and their incentives wallet."""

    did: Ed25519Signer
    wallet: MemberWallet
    coverage: dict[str, Any]

    def present(self, campaign: str, rule: str, claim_key: str) -> ClaimEvidence:
        proof = self.wallet.holder_proof(self.did, campaign, rule)
        return ClaimEvidence(claim_key, self.coverage, proof)
