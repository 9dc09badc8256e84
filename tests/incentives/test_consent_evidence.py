"""Research participation rewarded on a ledger fact: a consent recorded in the ``consent``
contract, granted to the sponsor for research, presented by the patient's DID."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import msgspec

from careledger.contracts.consent import ConsentTerms, consent_id, grant_payload, revoke_payload
from careledger.contracts.incentives.terms import Rule
from careledger.credentials.ledger import LedgerDidRegistry
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.codes import RejectCode
from careledger.incentives.evidence import ConsentEvidence
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import approve_contracts
from careledger.incentives.wallet import MemberWallet
from tests.incentives.helpers import spec
from tests.incentives.world import SPONSOR, incentive_world

CAMPAIGN = "study-consent"


def _terms(grantee: str, purposes: list[str]) -> ConsentTerms:
    start = int(time.time() * 1000) - 60_000
    return msgspec.convert(
        {
            "grantee": grantee,
            "purposes": purposes,
            "classes": ["*"],
            "sensitive": [],
            "start": start,
            "end": start + 86_400_000,
            "nonce": secrets.token_hex(16),
        },
        ConsentTerms,
    )


def test_a_research_consent_on_the_ledger_is_evidence(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            net = cast.net
            await approve_contracts(net, ("consent",))
            rules = [Rule("enrolled", 2_000, evidence="consent", visit=1)]
            await create_campaign(
                net.gateway(SPONSOR, "admin"),
                spec(CAMPAIGN, program="research", rules=rules, yearly_cap_cents=None),
            )
            patient = Ed25519Signer()
            did = await LedgerDidRegistry(net.gateway(SPONSOR)).create(patient)
            gw = net.gateway(SPONSOR)

            async def grant(grantee: str, purposes: list[str]) -> str:
                terms = _terms(grantee, purposes)
                signature = patient.sign(grant_payload(did, terms))
                args = [did, msgspec.to_builtins(terms), signature]
                await gw.submit("consent", "grant", args)
                return consent_id(did, terms)

            wallet = MemberWallet()
            key = wallet.member_key(CAMPAIGN)
            proof = wallet.holder_proof(patient, CAMPAIGN, "enrolled", f"{did}#key-1")

            async def present(consent: str) -> RejectCode | None:
                outcome = await cast.awarder.award(
                    CAMPAIGN, "enrolled", ConsentEvidence(did, consent, proof), key
                )
                return outcome.code

            treatment = await grant(SPONSOR, ["TREAT"])
            assert await present(treatment) is RejectCode.CONSENT_NOT_ACTIVE
            elsewhere = await grant("Hospital", ["HRESCH"])
            assert await present(elsewhere) is RejectCode.CONSENT_NOT_ACTIVE
            revoked = await grant(SPONSOR, ["HRESCH"])
            await gw.submit(
                "consent", "revoke", [did, revoked, patient.sign(revoke_payload(did, revoked))]
            )
            assert await present(revoked) is RejectCode.CONSENT_NOT_ACTIVE
            research = await grant(SPONSOR, ["HRESCH", "TREAT"])
            thief = MemberWallet()
            stolen = ConsentEvidence(did, research, proof)  # a proof for another wallet's key
            taken = await cast.awarder.award(
                CAMPAIGN, "enrolled", stolen, thief.member_key(CAMPAIGN)
            )
            assert taken.code is RejectCode.HOLDER_PROOF_INVALID
            assert await present(research) is None  # awarded
            assert await present(research) is RejectCode.EVIDENCE_REPLAYED

    asyncio.run(scenario())
