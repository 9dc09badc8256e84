"""The flu-shot campaign, as a function the demo's incentives chapter calls.

:func:`flu_shot_campaign` runs on a started embedded network: a payer is allowed to sponsor and
funds a nominal-value flu-shot campaign audited by a third organisation; a clinic issues the
patient an immunization credential (its issuer DID anchored and accredited on the ledger, with
a status list entry); the patient's wallet presents it and is rewarded once; a second try with
the same credential is refused; the yearly cap bites on a second rule; points are redeemed for
an in-kind item; the sponsor's report. Everything is synthetic.

:func:`prepare` builds the cast (issuer, verifiers, awarder, auditor) and is reused by tests and
the benchmark.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from careledger.contracts.incentives.terms import CampaignSpec, CatalogueItem, Rule
from careledger.credentials import StatusListIssuer, StatusPurpose
from careledger.credentials.credential_types import IMMUNIZATION, issue_credential
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.ledger import (
    LedgerDidRegistry,
    StatusListPublisher,
    TrustRegistryAdmin,
    gateway_query,
    ledger_resolver,
    ledger_verifier,
)
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.awarding import AuditorCosigner, Awarder, EvidenceKeys
from careledger.incentives.events import IncentiveEvents
from careledger.incentives.evidence import CredentialEvidence, EvidenceChecker
from careledger.incentives.members import holdings, redeem
from careledger.incentives.reports import CampaignReport, campaign_report
from careledger.incentives.sponsors import allow_sponsor, create_campaign
from careledger.incentives.wallet import MemberWallet
from careledger.node.network import EmbeddedNetwork

CONTRACTS = ("dids", "status_lists", "trust_registry", "incentives")
POLICY = "MAJORITY"
DAY_MS = 86_400_000
FLU_VACCINE = {"vaccineCode": "140", "vaccineDisplay": "Influenza, seasonal, injectable"}


@dataclass
class Cast:
    """Who holds what: the sponsor's awarder, the auditor, the clinic's issuer."""

    net: EmbeddedNetwork
    sponsor: str
    issuer_org: str
    auditor: str | None
    issuer: Ed25519Signer
    issuer_did: str
    status: StatusListIssuer
    awarder: Awarder
    events: IncentiveEvents
    keys: EvidenceKeys
    unfollow: list[Any] = field(default_factory=list)

    async def publish_status(self) -> None:
        vm = ProofOptions(f"{self.issuer_did}#key-1")
        signed = add_proof(self.status.credential(), self.issuer, vm, Cryptosuite.EDDSA_JCS_2022)
        await StatusListPublisher(self.net.gateway(self.issuer_org, "admin")).publish(signed)

    def immunization(
        self,
        subject: Ed25519Signer,
        *,
        occurred: str | None = None,
        valid_until: datetime | None = None,
        issued: datetime | None = None,
        revocable: bool = True,
        vaccine: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], int]:
        """An immunization credential to ``subject`` and its status index (-1: none)."""
        entry = self.status.allocate() if revocable else None
        claims = {
            **(vaccine or FLU_VACCINE),
            "occurrenceDate": occurred or datetime.now(UTC).date().isoformat(),
            "lotNumber": f"LOT-{os.urandom(3).hex()}",
            "performerId": self.issuer_did,
        }
        credential = issue_credential(
            IMMUNIZATION,
            self.issuer,
            f"{self.issuer_did}#key-1",
            subject.did_key,
            claims,
            suite=Cryptosuite.EDDSA_JCS_2022,
            valid_from=issued,
            valid_until=valid_until,
            status=[entry] if entry else (),
        )
        return credential, int(entry["statusListIndex"]) if entry else -1


async def approve_contracts(net: EmbeddedNetwork, names: tuple[str, ...] = CONTRACTS) -> None:
    """Approve the definitions not approved yet (MAJORITY), admins in turn."""
    orgs = net.config.org_ids
    first = next(iter(net.peers.values()))
    for name in names:
        if first.validator.definition(name) is not None:
            continue
        change = {"name": name, "version": "1.0", "policy": POLICY}
        state = (
            await net.gateway(orgs[0], "admin").submit("_gov", "propose", ["contract", change])
        ).result
        for org in orgs[1:]:
            if state["status"] == "applied":
                break
            await _settled(net)
            state = (
                await net.gateway(org, "admin").submit("_gov", "approve", [state["id"]])
            ).result
        await _settled(net)


def ledger_checker(
    net: EmbeddedNetwork, org: str, did_cache_seconds: float = 0.0
) -> EvidenceChecker:
    """An evidence checker reading DIDs, trust, status lists and consents from ``org``'s peer."""
    query = gateway_query(net.gateway(org))
    resolver = ledger_resolver(query, cache_ttl=did_cache_seconds)
    return EvidenceChecker(ledger_verifier(query, resolver), resolver, query)


async def _settled(net: EmbeddedNetwork) -> None:
    height = max(p.height() for p in net.peers.values())
    await net.wait_height(height, timeout=10)


async def prepare(
    net: EmbeddedNetwork,
    *,
    sponsor: str,
    issuer_org: str,
    auditor: str | None,
    ceiling_cents: int = 10**9,
    evidence_secret: bytes | None = None,
    did_cache_seconds: float = 0.0,
) -> Cast:
    """Approve the contracts, allow ``sponsor``, anchor and accredit the clinic's immunization
    issuer with a status list, and build the sponsor's awarder (and the auditor's co-signer)."""
    await approve_contracts(net)
    orgs = net.config.org_ids
    admins = [net.gateway(o, "admin") for o in [sponsor, *[o for o in orgs if o != sponsor]]]
    await allow_sponsor(admins, sponsor, ceiling_cents)
    admin = net.gateway(issuer_org, "admin")
    issuer = Ed25519Signer()
    did = await LedgerDidRegistry(admin).create(issuer)
    trust = TrustRegistryAdmin(admin)
    await trust.bind_issuer(did, issuer)
    await trust.accredit(did, IMMUNIZATION.name)
    suffix = did.rsplit(":", 1)[1][:16].lower()
    status = StatusListIssuer(
        f"https://clinic.example/status/{suffix}/1", did, StatusPurpose.REVOCATION
    )
    keys = EvidenceKeys(evidence_secret or os.urandom(32))
    events = IncentiveEvents()

    def checker(org: str) -> EvidenceChecker:
        return ledger_checker(net, org, did_cache_seconds)

    cosigner = None
    if auditor is not None:
        cosigner = AuditorCosigner(net.config.member(auditor, "client0"), checker(auditor), keys)
    awarder = Awarder(net.gateway(sponsor), checker(sponsor), keys, cosigner, events)
    cast = Cast(net, sponsor, issuer_org, auditor, issuer, did, status, awarder, events, keys)
    cast.unfollow.append(events.follow(net.peers[sponsor]))
    await cast.publish_status()
    await _settled(net)
    return cast


def flu_spec(
    campaign: str, auditor: str | None, *, budget: int = 100_000, now_ms: int | None = None
) -> CampaignSpec:
    """A nominal-value campaign: 1 point = 1 cent, $10 for a flu shot, $5 for a booster, a
    $15 yearly cap for the campaign (under the $75 nominal ceiling)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    return CampaignSpec(
        id=campaign,
        program="nominal",
        point_value_cents=1,
        budget_points=budget,
        rules=[
            Rule("flu-shot", 1_000, credential_type=IMMUNIZATION.name, max_age_days=120),
            Rule("booster", 1_000, credential_type=IMMUNIZATION.name, once_per_member=False),
        ],
        catalogue=[
            CatalogueItem("water-bottle", 500, 500),
            CatalogueItem("step-counter", 1_500, 1_500),
        ],
        start=now - DAY_MS,
        end=now + 90 * DAY_MS,
        points_valid_until=now + 120 * DAY_MS,
        auditor=auditor,
        yearly_cap_cents=1_500,
    )


@dataclass
class FluShotStory:
    lines: list[str]
    cast: Cast
    wallet: MemberWallet
    report: CampaignReport
    codes: dict[str, str]


async def flu_shot_campaign(
    net: EmbeddedNetwork,
    *,
    sponsor: str = "Payer",
    clinic: str = "Hospital",
    auditor: str | None = "Lab",
    campaign: str = "flu-2026",
) -> FluShotStory:
    """The chapter: funded, rewarded once, refused on replay, capped, redeemed, reported."""
    cast = await prepare(net, sponsor=sponsor, issuer_org=clinic, auditor=auditor)
    lines: list[str] = []
    codes: dict[str, str] = {}
    spec = flu_spec(campaign, auditor)
    await create_campaign(net.gateway(sponsor, "admin"), spec)
    lines.append(
        f"{sponsor} (allowed to sponsor by governance) funded {campaign}: "
        f"{spec.budget_points} points of 1¢ escrowed in {spec.shards} tranches, nominal value "
        f"($10 a flu shot, $15 a year), auditor {auditor or 'none'}; points are not transferable"
    )
    patient, wallet = Ed25519Signer(), MemberWallet()
    member_key = wallet.member_key(campaign)
    shot, _ = cast.immunization(patient)
    evidence = CredentialEvidence(shot, wallet.holder_proof(patient, campaign, "flu-shot"))
    first = await cast.awarder.award(campaign, "flu-shot", evidence, member_key)
    lines.append(
        f"{clinic} issued an immunization credential; the patient's wallet presented it under "
        f"pseudonym {wallet.pseudonym(campaign)[:12]}…: {first.status} {first.points} points"
        + (f" (co-signed by {auditor})" if auditor else "")
    )
    again = await cast.awarder.award(campaign, "flu-shot", evidence, member_key)
    codes["replay"] = str(again.code)
    lines.append(f"the same credential presented again: {again.status} — {again.code}")
    booster, _ = cast.immunization(patient)
    proof = wallet.holder_proof(patient, campaign, "booster")
    capped = await cast.awarder.award(
        campaign, "booster", CredentialEvidence(booster, proof), member_key
    )
    codes["cap"] = f"{capped.code}:{capped.cap}"
    lines.append(
        f"a booster credential for another $10 this year: {capped.status} — {capped.code} "
        f"({capped.cap} cap of $15)"
    )
    gateway = net.gateway(sponsor)
    spent = await redeem(gateway, wallet, campaign, "water-bottle")
    held = (await holdings(gateway, wallet, [campaign]))[0]
    expiry = datetime.fromtimestamp(held.expires_at / 1000, UTC).date().isoformat()
    lines.append(
        f"the patient redeemed {spent.points} points for a water bottle; wallet: {held.balance} "
        f"points, expiring {expiry}, transferable: {held.transferable}"
    )
    report = await campaign_report(gateway, campaign)
    lines.extend(report.lines())
    for undo in cast.unfollow:
        undo()
    return FluShotStory(lines, cast, wallet, report, codes)
