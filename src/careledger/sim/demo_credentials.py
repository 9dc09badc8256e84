"""The credentials chapter of ``careledger demo``: DIDs, trust and status lists on the ledger.

Steps have the shape of :data:`careledger.sim.demo.STORY` (async functions of a
:class:`~careledger.sim.story.DemoContext` returning a line). The story: governance approves the
identity contracts; a licensing board licenses a practitioner; a payer issues a coverage
credential to a patient whose DID is anchored on the ledger; the patient shows only member id and
plan to a clinic, which checks the trust registry and the status list on the ledger; the payer
revokes the credential and the next presentation is refused with the reason.

The demo consortium has no licensing board organisation, so the ``Board`` organisation plays it
when there is one and ``Hospital`` otherwise. Everything issued is synthetic; nothing about the
patient or practitioner is written to the ledger except DIDs, issuer bindings and status bits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from careledger.credentials.credential_types import (
    INSURANCE_COVERAGE,
    PRACTITIONER_LICENSE,
    issue_credential,
    issue_sd_jwt_vc,
)
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.ledger import (
    LedgerDidRegistry,
    StatusListPublisher,
    TrustRegistryAdmin,
    gateway_query,
    ledger_verifier,
)
from careledger.credentials.request import PresentationRequest
from careledger.credentials.sd_jwt import holder_jwk
from careledger.credentials.status.bitstring import StatusListIssuer, StatusPurpose
from careledger.credentials.verifier import Verifier
from careledger.credentials.wallet import Wallet
from careledger.identity.did.keys import Ed25519Signer
from careledger.sim.story import Chapter, DemoContext, Step

CONTRACTS = ("dids", "status_lists", "trust_registry")
CONTRACT_POLICY = "MAJORITY"
PAYER, CLINIC = "Payer", "Hospital"
CLINIC_AUDIENCE = "did:web:clinic.hospital.example"
WALLET_PASSPHRASE = "demo-only passphrase"  # a synthetic patient's wallet in the demo directory
COVERAGE_CLAIMS = {
    "memberId": "M-7F3A-0042",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
}


@dataclass
class Cast:
    """Who holds what in the credentials story (kept in ``ctx.facts["credentials"]``)."""

    verifier: Verifier
    payer_signer: Ed25519Signer | None = None
    payer_did: str = ""
    status: StatusListIssuer | None = None
    status_index: int = -1
    wallet: Wallet | None = None


def _board(ctx: DemoContext) -> str:
    return "Board" if "Board" in ctx.net.config.org_ids else "Hospital"


def _cast(ctx: DemoContext) -> Cast:
    cast = ctx.facts.get("credentials")
    if not isinstance(cast, Cast):
        raise RuntimeError("run the credential steps in order, from the first one")
    return cast


def _short(did: str) -> str:
    return did if len(did) <= 32 else did[:28] + "…"


async def _anchor_issuer(ctx: DemoContext, org: str, *types: str) -> tuple[Ed25519Signer, str]:
    """A new issuer key whose did:careledger is anchored, bound to ``org`` and accredited."""
    admin = ctx.net.gateway(org, "admin")
    signer = Ed25519Signer()
    did = await LedgerDidRegistry(admin).create(signer)
    trust = TrustRegistryAdmin(admin)
    await trust.bind_issuer(did, signer)
    await trust.accredit(did, *types)
    return signer, did


async def approve_identity_contracts(ctx: DemoContext) -> str:
    orgs = ctx.net.config.org_ids
    for name in CONTRACTS:
        change = {"name": name, "version": "1.0", "policy": CONTRACT_POLICY}
        proposal = await ctx.net.gateway(orgs[0], "admin").submit(
            "_gov", "propose", ["contract", change]
        )
        state = proposal.result
        for org in orgs[1:]:
            if state["status"] == "applied":
                break
            approved = await ctx.net.gateway(org, "admin").submit("_gov", "approve", [state["id"]])
            state = approved.result
    ctx.facts["credentials"] = Cast(ledger_verifier(gateway_query(ctx.net.gateway(CLINIC))))
    return (
        f"governance approved {', '.join(CONTRACTS)} ({CONTRACT_POLICY}); the clinic's verifier "
        "reads DIDs, the trust registry and status lists from its own peer"
    )


async def license_practitioner(ctx: DemoContext) -> str:
    cast, board = _cast(ctx), _board(ctx)
    signer, did = await _anchor_issuer(
        ctx, board, PRACTITIONER_LICENSE.name, PRACTITIONER_LICENSE.vct
    )
    practitioner = Ed25519Signer()
    today = datetime.now(UTC).date()
    claims = {
        "licenseNumber": "MD-48213",
        "jurisdiction": "US-MA",
        "specialty": "Family Medicine",
        "practitionerName": "Dr. Ada Synthetic",
        "licenseStart": today.isoformat(),
        "licenseEnd": date(today.year + 2, 1, 1).isoformat(),
    }
    licence = issue_credential(
        PRACTITIONER_LICENSE,
        signer,
        f"{did}#key-1",
        practitioner.did_key,
        claims,
        suite=Cryptosuite.EDDSA_JCS_2022,
    )
    result = cast.verifier.verify_credential(licence, PRACTITIONER_LICENSE.name)
    outcome = "verifies" if result.ok else f"fails ({result.reasons[0]})"
    return (
        f"{board} (as licensing board) anchored {_short(did)}, bound it and was accredited for "
        f"{PRACTITIONER_LICENSE.name}; licence {claims['licenseNumber']} for "
        f"{_short(practitioner.did_key)} {outcome} against the ledger"
    )


async def issue_coverage(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    signer, did = await _anchor_issuer(ctx, PAYER, INSURANCE_COVERAGE.name, INSURANCE_COVERAGE.vct)
    vm = f"{did}#key-1"
    suffix = did.rsplit(":", 1)[1]
    status = StatusListIssuer(
        f"https://payer.example/status/{suffix}/1", did, StatusPurpose.REVOCATION
    )
    entry = status.allocate()
    signed_list = add_proof(
        status.credential(), signer, ProofOptions(vm), Cryptosuite.EDDSA_JCS_2022
    )
    published = await StatusListPublisher(ctx.net.gateway(PAYER, "admin")).publish(signed_list)

    directory = Path(ctx.net.config.dir) / "wallets"
    directory.mkdir(exist_ok=True)
    wallet = Wallet.create(directory / f"patient-{secrets.token_hex(4)}.json", WALLET_PASSPHRASE)
    key = wallet.new_key("patient")
    # The payer's member app submits the patient's DID creation; the patient's key signs it.
    patient_did = await LedgerDidRegistry(ctx.net.gateway(PAYER)).create(key)
    token = issue_sd_jwt_vc(
        INSURANCE_COVERAGE,
        signer,
        vm,
        {
            **COVERAGE_CLAIMS,
            "payerId": did,
            "coverageStart": datetime.now(UTC).date().isoformat(),
        },
        holder_jwk(key),
        lifetime=timedelta(days=365).total_seconds(),
        status=[entry],
    )
    wallet.add_sd_jwt(token)
    wallet.save()
    cast.payer_signer, cast.payer_did, cast.status, cast.wallet = signer, did, status, wallet
    cast.status_index = int(entry["statusListIndex"])
    return (
        f"patient {_short(patient_did)} anchored on the ledger; {PAYER} ({_short(did)}) issued an "
        f"SD-JWT coverage credential with status entry {cast.status_index} in list "
        f"#{published['sequence']} published on the ledger"
    )


def _present(cast: Cast) -> tuple[PresentationRequest, str]:
    if cast.wallet is None:
        raise RuntimeError("the coverage credential has not been issued")
    request = PresentationRequest.new(
        INSURANCE_COVERAGE.vct, ["memberId", "planId"], CLINIC_AUDIENCE
    )
    return request, cast.wallet.present(request)


async def present_coverage(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    request, presentation = _present(cast)
    result = cast.verifier.verify_sd_jwt(presentation, request)
    if not result.ok:
        return f"the clinic refused the presentation: {result.reasons[0]}"
    shown = {k: result.claims[k] for k in request.claims}
    withheld = sorted(set(COVERAGE_CLAIMS) - set(shown))
    return (
        f"the clinic accepted {shown} (issuer trusted, not revoked, holder-bound); "
        f"not disclosed: {', '.join(withheld)} and the coverage dates"
    )


async def revoke_coverage(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    if cast.status is None or cast.payer_signer is None:
        raise RuntimeError("the coverage credential has not been issued")
    cast.status.set_status(cast.status_index, True)
    signed = add_proof(
        cast.status.credential(),
        cast.payer_signer,
        ProofOptions(f"{cast.payer_did}#key-1"),
        Cryptosuite.EDDSA_JCS_2022,
    )
    published = await StatusListPublisher(ctx.net.gateway(PAYER, "admin")).publish(signed)
    return (
        f"{PAYER} set bit {cast.status_index} and published list #{published['sequence']} "
        f"(digest {published['digest'][:12]}…) through the ledger"
    )


async def present_after_revocation(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    request, presentation = _present(cast)
    result = cast.verifier.verify_sd_jwt(presentation, request)
    if result.ok:
        return "the clinic accepted a revoked credential?!"
    return f"the clinic refused the next presentation — {result.reasons[0]}"


CREDENTIAL_STORY: list[Step] = [
    ("Identity contracts approved", approve_identity_contracts),
    ("A licensing board licenses a practitioner", license_practitioner),
    ("A payer issues a coverage credential", issue_coverage),
    ("The patient shows only member id and plan", present_coverage),
    ("The payer revokes the coverage", revoke_coverage),
    ("A revoked credential is refused", present_after_revocation),
]

CREDENTIAL_CHAPTER = Chapter("Patient trust", CREDENTIAL_STORY)
