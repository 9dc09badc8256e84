"""The payer chapter of ``careledger demo``: eligibility → a prior authorization pended, then
approved → an 837 adjudicated on the ledger → the 835 and the member's EOB with the same numbers
→ a duplicate claim refused → a revoked licence unverifies a directory entry.

Payer is the payer, Hospital the provider (a trading partner of Payer), Lab the licensing board.
The steps drive the same off-chain services a payer's node serves (PAS, eligibility, the claims
desk, remittance, the directory) on the embedded consortium; every decision is a committed
transaction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from careledger.contracts.payer.model import Claim, ClaimLine
from careledger.credentials import PRACTITIONER_LICENSE, issue_credential
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.ledger import (
    LedgerDidRegistry,
    StatusListPublisher,
    TrustRegistryAdmin,
    gateway_query,
)
from careledger.credentials.status.bitstring import StatusListIssuer, StatusPurpose
from careledger.identity.did import Ed25519Signer
from careledger.node.network import EmbeddedNetwork
from careledger.payer.claims.remittance import RemittanceDesk
from careledger.payer.claims.routes import NodeClaimDirectory, member_system_of
from careledger.payer.claims_service import ClaimsDesk
from careledger.payer.directory.desk import DirectoryDesk
from careledger.payer.directory.licence import LicenceCheck
from careledger.payer.directory.plan_net import DirectoryReader
from careledger.payer.eligibility import LedgerEligibility, eligibility_response
from careledger.payer.ledger_form import ClaimKeyer
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import MemoryPasStore
from careledger.sim.payer_workload import (
    benefit_plan,
    claims_837,
    coverage,
    pas_request,
    payer_claims,
)
from careledger.sim.story import Chapter, DemoContext

PAYER, PROVIDER, BOARD = "Payer", "Hospital", "Lab"
CONTRACTS = ("plans", "claims", "prior_auth", "directory")
IDENTITY_CONTRACTS = ("dids", "status_lists", "trust_registry")
POLICY = "MAJORITY"
PA_CODE = "72148"
MEMBER = "M0000000000"
CLAIMS_IN_837 = 6


@dataclass
class PayerDesks:
    """The payer's services, kept between steps."""

    pas: PriorAuthService
    claims: ClaimsDesk
    remittance: RemittanceDesk
    directory: NodeClaimDirectory
    secret: bytes


def _desks(ctx: DemoContext) -> PayerDesks:
    desks = ctx.facts["payer"]
    assert isinstance(desks, PayerDesks)
    return desks


async def _approve(net: EmbeddedNetwork, names: tuple[str, ...]) -> list[str]:
    """Propose and approve each contract not yet enabled (a majority of admins)."""
    orgs = list(net.config.org_ids)
    done = []
    for name in names:
        if net.peers[orgs[0]].validator.definition(name) is not None:
            continue
        change = {"name": name, "version": "1.0", "policy": POLICY}
        state = (
            await net.gateway(orgs[0], "admin").submit("_gov", "propose", ["contract", change])
        ).result
        for org in orgs[1:]:
            if state.get("status") == "applied":
                break
            state = (
                await net.gateway(org, "admin").submit("_gov", "approve", [state["id"]])
            ).result
        done.append(name)
    return done


async def eligibility(ctx: DemoContext) -> str:
    net = ctx.net
    approved = await _approve(net, CONTRACTS + IDENTITY_CONTRACTS)
    gateway, admin = net.gateway(PAYER), net.gateway(PAYER, "admin")
    secret = b"demo-payer-member-secret-32bytes"
    directory = NodeClaimDirectory(PAYER, secret, member_system_of(PAYER))
    plan = benefit_plan(PAYER, prior_auth=[f"HC:{PA_CODE}"])
    await admin.submit("plans", "publish", [msgspec.to_builtins(plan)])
    await admin.submit("plans", "admit", [PROVIDER, True])
    for n in range(CLAIMS_IN_837):
        handle = directory.member_handle(PAYER, f"M{n:010d}")
        assert handle is not None
        await admin.submit("plans", "enrol", [msgspec.to_builtins(coverage(handle))])
    claims = ClaimsDesk(gateway, ClaimKeyer(b"demo-payer-claim-key-of-32-bytes"))
    ctx.facts["payer"] = PayerDesks(
        PriorAuthService(gateway, MemoryPasStore(), secret),
        claims,
        RemittanceDesk(claims, PAYER, history=net.peers[PAYER].state),
        directory,
        secret,
    )
    request = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"identifier": {"system": directory.member_system, "value": MEMBER}},
        "created": "2026-03-02",
        "servicedDate": "2026-03-10",
        "insurer": {"identifier": {"system": "urn:careledger:org", "value": PAYER}},
    }
    answer = await eligibility_response(
        msgspec.json.encode(request), LedgerEligibility(gateway.evaluate, PAYER), PAYER, secret
    )
    insurance = answer["insurance"][0]
    return (
        f"governance approved {', '.join(approved) or 'nothing new'}; Payer published plan "
        f"{plan.plan!r} ({len(plan.benefits)} codes), admitted {PROVIDER} and enrolled "
        f"{CLAIMS_IN_837} members by keyed handle; eligibility for member {MEMBER}: "
        f"in force {insurance['inforce']}"
    )


def _pas_bundle(system: str) -> dict[str, Any]:
    return pas_request(
        payer=PAYER,
        member_system=system,
        member_id=MEMBER,
        code=PA_CODE,
        claim_id="PA-REQ-1",
        claim_system="urn:hospital:pa",
        provider="Hospital",
        patient_name=("Doe", "Alex"),
        birth_date="1980-01-15",
    )


def _review_action(bundle: dict[str, Any]) -> tuple[str, str]:
    response = bundle["entry"][0]["resource"]
    ext = response["item"][0]["adjudication"][0]["extension"][0]
    code = next(e for e in ext["extension"] if e["url"] == "code")
    return str(response.get("preAuthRef", "")), str(
        code["valueCodeableConcept"]["coding"][0]["code"]
    )


async def prior_authorization(ctx: DemoContext) -> str:
    desks = _desks(ctx)
    raw = msgspec.json.encode(_pas_bundle(desks.directory.member_system))
    number, pended = _review_action(await desks.pas.submit(raw, PROVIDER))
    _, decided = _review_action(await desks.pas.decide(number, b'{"action": "A1"}'))
    ctx.facts["payer_pa"] = number
    return (
        f"{PROVIDER} requested a PAS authorization for CPT {PA_CODE}: {pended} (pended for "
        f"review, 7-day standard clock); Payer's reviewer decided: {decided} (certified), "
        f"authorization {number}"
    )


async def claims_837_in(ctx: DemoContext) -> str:
    desks = _desks(ctx)
    claims = payer_claims(CLAIMS_IN_837, PAYER, PAYER, desks.directory)
    first, off = claims[0]
    pa_line = ClaimLine(1, PA_CODE, 85_000, 1, "2026-03-15", diagnosis_pointers=[1])
    claims[0] = (
        msgspec.structs.replace(
            first,
            lines=[pa_line],
            total_charge_cents=pa_line.charge_cents,
            prior_authorization=ctx.facts["payer_pa"],
        ),
        off,
    )
    data = claims_837(claims, PAYER, b"demo-837")
    receipt = await desks.claims.receive_837(io.BytesIO(data), desks.directory, submitter=PROVIDER)
    ctx.facts["payer_claims"] = [c for c, _ in claims]
    ak9 = next(s for s in receipt.ack_999.decode().split("~") if s.strip().startswith("AK9"))
    paid = sum(o.adjudication.paid_cents for o in receipt.outcomes)
    dispositions = sorted({o.adjudication.disposition for o in receipt.outcomes})
    return (
        f"{PROVIDER} sent an 837P of {CLAIMS_IN_837} claims ({len(data):,} bytes, one with the "
        f"authorization): 999 {ak9.strip()}, a 277CA of {len(receipt.status_277ca):,} bytes; "
        f"{len(receipt.outcomes)} adjudicated by the claims contract on every endorser "
        f"({', '.join(dispositions)}), ${paid / 100:,.2f} payable"
    )


async def remittance(ctx: DemoContext) -> str:
    desks = _desks(ctx)
    claims: list[Claim] = ctx.facts["payer_claims"]
    npi = claims[0].billing_npi
    today = (datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
    first = await desks.remittance.payee_835(npi, today)
    again = await desks.remittance.payee_835(npi, today)
    handle = desks.directory.member_handle(PAYER, MEMBER)
    assert handle is not None
    eobs = await desks.remittance.explanations(handle, patient="Patient/demo")
    eob_paid = sum(
        round(t["amount"]["value"] * 100)
        for e in eobs
        for t in e["total"]
        if t["category"]["coding"][0]["code"] == "paidtoprovider"
    )
    member_items = await desks.remittance.items(member=handle)
    clp_paid = sum(i.adjudication.paid_cents for i in member_items)
    return (
        f"Payer wrote an 835 for payee {npi}: {len(first.claim_keys)} claims, "
        f"${first.paid_cents / 100:,.2f}, trace {first.trace_number}; re-derived from the chain: "
        f"{'the same bytes' if again.x12 == first.x12 else 'DIFFERENT bytes?!'}; member "
        f"{MEMBER}'s {len(eobs)} CARIN EOB(s) pay ${eob_paid / 100:,.2f}, "
        f"{'equal to' if eob_paid == clp_paid else 'NOT equal to'} the 835's CLP04"
    )


async def duplicate(ctx: DemoContext) -> str:
    desks = _desks(ctx)
    claims: list[Claim] = ctx.facts["payer_claims"]
    again = msgspec.structs.replace(claims[1], claim_id="PCN-RESENT-1")
    archived = desks.claims.archive.get(desks.claims.archive.find(member=claims[1].member)[0])
    assert archived is not None
    outcome = await desks.claims.adjudicate(again, archived.parties, submitter=PROVIDER)
    adjudication = outcome.adjudication
    carcs = sorted({f"{a.group}-{a.reason}" for ln in adjudication.lines for a in ln.adjustments})
    return (
        f"{PROVIDER} re-billed claim {claims[1].claim_id}'s services as {again.claim_id}: "
        f"{adjudication.disposition}, ${adjudication.paid_cents / 100:,.2f} paid "
        f"({', '.join(carcs)})"
    )


async def licence_revoked(ctx: DemoContext) -> str:
    net = ctx.net
    board = net.gateway(BOARD, "admin")
    signer = Ed25519Signer()
    did = await LedgerDidRegistry(board).create(signer)
    trust = TrustRegistryAdmin(board)
    await trust.bind_issuer(did, signer)
    await trust.accredit(did, PRACTITIONER_LICENSE.name)
    lists = StatusListIssuer("https://lab.example/licences/1", did, StatusPurpose.REVOCATION)
    entry = lists.allocate()
    licence = issue_credential(
        PRACTITIONER_LICENSE,
        signer,
        f"{did}#key-1",
        Ed25519Signer().did_key,
        {
            "licenseNumber": "MD-448812",
            "jurisdiction": "US-MA",
            "specialty": "Family medicine",
            "practitionerName": "Ana Rivera",
            "licenseStart": "2020-01-01",
            "licenseEnd": "2030-01-01",
        },
        suite=Cryptosuite.EDDSA_JCS_2022,
        valid_until=datetime.now(UTC) + timedelta(days=365),
        status=[entry],
    )
    publisher = StatusListPublisher(board)

    async def publish_list() -> None:
        signed = add_proof(
            lists.credential(), signer, ProofOptions(f"{did}#key-1"), Cryptosuite.EDDSA_JCS_2022
        )
        await publisher.publish(signed)

    await publish_list()
    gateway = net.gateway(PAYER, "admin")
    licences = LicenceCheck(gateway_query(gateway))
    desk, reader = DirectoryDesk(gateway, licences), DirectoryReader(gateway.evaluate, licences)
    await desk.publish(
        {"entry": {"kind": "Organization", "id": "demo-clinic", "name": "Demo Clinic"}}
    )
    await desk.publish(
        {"entry": {"kind": "Practitioner", "id": "dr-rivera", "name": "Dr Ana Rivera"}}
    )
    role = {
        "kind": "PractitionerRole",
        "id": "rivera-fm",
        "practitioner": "dr-rivera",
        "organization": "demo-clinic",
        "specialties": ["207Q00000X"],
    }
    await desk.publish({"entry": role, "licence": licence})
    before = _verified(await reader.read("PractitionerRole", "rivera-fm"))
    lists.set_status(int(entry["statusListIndex"]), True)
    await publish_list()
    after = await reader.read("PractitionerRole", "rivera-fm")
    return (
        f"Payer listed Dr Rivera's PractitionerRole with her licence from {BOARD} (verified: "
        f"{before}); {BOARD} revoked the licence in its status list — no directory write — and "
        f"the role now reads verified: {_verified(after)} (version {after['meta']['versionId']})"
    )


def _verified(resource: dict[str, Any]) -> bool:
    return bool(
        next(
            e["valueBoolean"]
            for e in resource["extension"]
            if e["url"].endswith("licence-verified")
        )
    )


PAYER_CHAPTER = Chapter(
    "payer",
    [
        ("Payer plan, enrolment and eligibility", eligibility),
        ("Prior authorization pended, then approved", prior_authorization),
        ("An 837P adjudicated on the ledger", claims_837_in),
        ("835 and Explanation of Benefit", remittance),
        ("A duplicate claim refused", duplicate),
        ("A revoked licence unverifies a directory entry", licence_revoked),
    ],
)
