"""``sponsor AND auditor`` across organisations: the sponsor's awarder asks the auditor's node
to co-sign over HTTP; the auditor re-checks the evidence itself and refuses what it cannot
verify, and only the sponsor's members may ask."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from careledger.api.app import create_app
from careledger.api.service import NodeService
from careledger.errors import CareLedgerError
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.awarding import AuditorCosigner, Awarder, EvidenceKeys
from careledger.incentives.codes import RejectCode
from careledger.incentives.evidence import CredentialEvidence
from careledger.incentives.remote import RemoteCosigner
from careledger.incentives.routes import add_incentive_routes
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import flu_spec, ledger_checker
from careledger.incentives.wallet import MemberWallet
from tests.incentives.world import AUDITOR, CLINIC, SPONSOR, incentive_world

CAMPAIGN = "flu-remote"


def test_the_auditor_node_cosigns_what_it_verified(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c") as cast:
            net = cast.net
            await create_campaign(net.gateway(SPONSOR, "admin"), flu_spec(CAMPAIGN, AUDITOR))
            service = NodeService(net.peers[AUDITOR], net.gateway(AUDITOR))
            app = create_app(service)
            add_incentive_routes(app, service)
            lab = net.config.member(AUDITOR, "client0")
            app.app.state.incentive_cosigner = AuditorCosigner(  # type: ignore[attr-defined]
                lab, ledger_checker(net, AUDITOR), cast.keys
            )
            transport = httpx.ASGITransport(app=app)
            remote = RemoteCosigner(
                "http://lab", net.config.member(SPONSOR, "client0"), transport=transport
            )
            awarder = Awarder(net.gateway(SPONSOR), ledger_checker(net, SPONSOR), cast.keys, remote)
            try:
                patient, wallet = Ed25519Signer(), MemberWallet()
                shot, _ = cast.immunization(patient)
                proof = wallet.holder_proof(patient, CAMPAIGN, "flu-shot")
                evidence = CredentialEvidence(shot, proof)
                key = wallet.member_key(CAMPAIGN)
                done = await awarder.award(CAMPAIGN, "flu-shot", evidence, key)
                assert done.awarded
                awards = await net.gateway(AUDITOR).evaluate("incentives", "awards", [CAMPAIGN])
                assert [a["cosigned_by"] for a in awards] == [AUDITOR]

                # an auditor with another evidence key computes other digests: it refuses
                app.app.state.incentive_cosigner = AuditorCosigner(  # type: ignore[attr-defined]
                    lab, ledger_checker(net, AUDITOR), EvidenceKeys(b"k" * 32)
                )
                other, other_wallet = Ed25519Signer(), MemberWallet()
                second, _ = cast.immunization(other)
                proof2 = other_wallet.holder_proof(other, CAMPAIGN, "flu-shot")
                refused = await awarder.award(
                    CAMPAIGN,
                    "flu-shot",
                    CredentialEvidence(second, proof2),
                    other_wallet.member_key(CAMPAIGN),
                )
                assert refused.code is RejectCode.MALFORMED_EVIDENCE
                assert refused.tx_id is None

                # someone other than the sponsor cannot ask the auditor to co-sign
                intruder = RemoteCosigner(
                    "http://lab", net.config.member(CLINIC, "client0"), transport=transport
                )
                campaign = await awarder.campaign(CAMPAIGN)
                digests = (await awarder.prepare(CAMPAIGN, "flu-shot", evidence, key))[3]
                assert digests is not None
                rule = campaign.spec.rules[0]
                try:
                    with pytest.raises(CareLedgerError, match="only Payer"):
                        await intruder.cosign(campaign, rule, evidence, key, 1_000, digests)
                finally:
                    await intruder.aclose()
            finally:
                await remote.aclose()
                service.close()

    asyncio.run(scenario())
