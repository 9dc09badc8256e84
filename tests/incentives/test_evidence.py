"""Evidence is checked before minting: each kind of bad evidence is refused with its own code,
nothing is written, and a refusal is an outcome (and an event), not an exception."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from careledger.credentials.credential_types import (
    IMMUNIZATION,
    INSURANCE_COVERAGE,
    issue_credential,
)
from careledger.credentials.data_integrity import Cryptosuite
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.codes import RejectCode
from careledger.incentives.evidence import CredentialEvidence
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import flu_spec
from careledger.incentives.wallet import HolderProof, MemberWallet
from tests.harness import world
from tests.incentives.world import SPONSOR, incentive_world

CAMPAIGN = "flu-evidence"


def test_bad_evidence_is_refused_with_distinct_codes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c") as cast:
            net = cast.net
            await create_campaign(net.gateway(SPONSOR, "admin"), flu_spec(CAMPAIGN, "Lab"))

            async def present(credential: dict, patient: Ed25519Signer, wallet: MemberWallet):
                proof = wallet.holder_proof(patient, CAMPAIGN, "flu-shot")
                return await cast.awarder.award(
                    CAMPAIGN,
                    "flu-shot",
                    CredentialEvidence(credential, proof),
                    wallet.member_key(CAMPAIGN),
                )

            codes: dict[str, RejectCode | None] = {}
            before = await world(net, ("incentives",))

            # revoked: the clinic flips the status bit and publishes the list
            patient, wallet = Ed25519Signer(), MemberWallet()
            revoked, index = cast.immunization(patient)
            cast.status.set_status(index, True)
            await cast.publish_status()
            codes["revoked"] = (await present(revoked, patient, wallet)).code

            expired, _ = cast.immunization(
                patient,
                issued=datetime.now(UTC) - timedelta(days=30),
                valid_until=datetime.now(UTC) - timedelta(days=1),
            )
            codes["expired"] = (await present(expired, patient, wallet)).code

            stale, _ = cast.immunization(patient, issued=datetime.now(UTC) - timedelta(days=200))
            codes["stale"] = (await present(stale, patient, wallet)).code

            rogue = Ed25519Signer()  # a valid signature by an issuer nobody accredited
            untrusted = issue_credential(
                IMMUNIZATION,
                rogue,
                rogue.did_key_verification_method,
                patient.did_key,
                {
                    "vaccineCode": "140",
                    "vaccineDisplay": "Influenza",
                    "occurrenceDate": "2026-10-01",
                    "lotNumber": "LOT-1",
                    "performerId": rogue.did_key,
                },
                suite=Cryptosuite.EDDSA_JCS_2022,
            )
            codes["untrusted"] = (await present(untrusted, patient, wallet)).code

            coverage = issue_credential(
                INSURANCE_COVERAGE,
                cast.issuer,
                f"{cast.issuer_did}#key-1",
                patient.did_key,
                {
                    "memberId": "M-1",
                    "planId": "P-1",
                    "planName": "Plan",
                    "payerId": cast.issuer_did,
                    "payerName": "Payer",
                    "coverageStart": "2026-01-01",
                },
                suite=Cryptosuite.EDDSA_JCS_2022,
            )
            codes["wrong_type"] = (await present(coverage, patient, wallet)).code

            own = issue_credential(  # the patient vouching for themself
                IMMUNIZATION,
                patient,
                patient.did_key_verification_method,
                patient.did_key,
                {
                    "vaccineCode": "140",
                    "vaccineDisplay": "Influenza",
                    "occurrenceDate": "2026-10-01",
                    "lotNumber": "LOT-2",
                    "performerId": patient.did_key,
                },
                suite=Cryptosuite.EDDSA_JCS_2022,
            )
            codes["self_reported"] = (await present(own, patient, wallet)).code

            good, _ = cast.immunization(patient)
            tampered = {
                **good,
                "credentialSubject": {**good["credentialSubject"], "vaccineCode": "141"},
            }
            codes["tampered"] = (await present(tampered, patient, wallet)).code

            thief, thief_wallet = Ed25519Signer(), MemberWallet()  # someone else's credential
            codes["stolen"] = (await present(good, thief, thief_wallet)).code
            forged = HolderProof(patient.did_key_verification_method, b"\x00" * 64)
            stolen = await cast.awarder.award(
                CAMPAIGN,
                "flu-shot",
                CredentialEvidence(good, forged),
                thief_wallet.member_key(CAMPAIGN),
            )
            codes["forged_holder_proof"] = stolen.code

            codes["malformed"] = (await present({"type": "nope"}, patient, wallet)).code

            # Nothing above was submitted: the world state did not change.
            assert await world(net, ("incentives",)) == before

            first = await present(good, patient, wallet)
            assert first.awarded
            replay = await present(good, patient, wallet)
            codes["replayed"] = replay.code
            assert replay.tx_id is not None  # recorded in a block, with no writes

            assert codes == {
                "revoked": RejectCode.EVIDENCE_REVOKED,
                "expired": RejectCode.EVIDENCE_EXPIRED,
                "stale": RejectCode.EVIDENCE_STALE,
                "untrusted": RejectCode.ISSUER_UNTRUSTED,
                "wrong_type": RejectCode.WRONG_CREDENTIAL_TYPE,
                "self_reported": RejectCode.SELF_REPORTED,
                "tampered": RejectCode.EVIDENCE_INVALID,
                "stolen": RejectCode.HOLDER_PROOF_INVALID,
                "forged_holder_proof": RejectCode.HOLDER_PROOF_INVALID,
                "malformed": RejectCode.MALFORMED_EVIDENCE,
                "replayed": RejectCode.EVIDENCE_REPLAYED,
            }
            assert len(set(codes.values())) == len(codes) - 1  # stolen/forged share one code
            rejected = {e.code for e in cast.events.recent(CAMPAIGN, "reward_rejected")}
            assert rejected == {str(c) for c in codes.values()}

    asyncio.run(scenario())


def test_reissued_credential_for_the_same_shot_is_the_same_evidence(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            await create_campaign(cast.net.gateway(SPONSOR, "admin"), flu_spec(CAMPAIGN, None))
            patient, wallet = Ed25519Signer(), MemberWallet()
            key = wallet.member_key(CAMPAIGN)
            first, _ = cast.immunization(patient)
            proof = wallet.holder_proof(patient, CAMPAIGN, "flu-shot")
            assert (
                await cast.awarder.award(
                    CAMPAIGN, "flu-shot", CredentialEvidence(first, proof), key
                )
            ).awarded
            # once per member: another credential (another lot, another day) is no second reward
            second, _ = cast.immunization(patient, occurred="2026-09-01")
            again = await cast.awarder.award(
                CAMPAIGN, "flu-shot", CredentialEvidence(second, proof), key
            )
            assert again.code is RejectCode.EVIDENCE_REPLAYED
            # the same holder under a second wallet (a second pseudonym) is refused too
            other = MemberWallet()
            proof2 = other.holder_proof(patient, CAMPAIGN, "booster")
            booster, _ = cast.immunization(patient)
            moved = await cast.awarder.award(
                CAMPAIGN, "booster", CredentialEvidence(booster, proof2), other.member_key(CAMPAIGN)
            )
            assert moved.code is RejectCode.HOLDER_MISMATCH

    asyncio.run(scenario())
