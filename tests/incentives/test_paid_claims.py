"""A campaign rule keyed to a ledger fact: a claim the sponsoring payer paid with a listed code
(an annual wellness visit), presented by its member with their coverage credential. Reversed,
denied, unlisted, stale and other members' claims are refused with their own codes; the same
claim line is rewarded once; the ledger holds only digests of the claim."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from careledger.api.app import create_app
from careledger.api.codec import b64e
from careledger.api.service import NodeService
from careledger.contracts.incentives.terms import CampaignSpec, Rule, check_spec
from careledger.daemon.config import IncentivesSettings
from careledger.daemon.incentives_side import open_incentives
from careledger.daemon.payer_side import member_secret
from careledger.errors import InvalidInput
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.awarding import AuditorCosigner, Awarder
from careledger.incentives.codes import RejectCode
from careledger.incentives.evidence import ClaimEvidence
from careledger.incentives.remote import RemoteCosigner
from careledger.incentives.routes import add_incentive_routes
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import approve_contracts
from careledger.incentives.wallet import MemberWallet
from careledger.payer.claims.routes import NodeClaimDirectory, member_system_of
from careledger.payer.claims_service import ClaimsDesk
from careledger.payer.ledger_form import ClaimKeyer
from careledger.sim.payer_workload import benefit_plan, coverage
from careledger.sim.wellness import (
    Member,
    claim_awarder,
    claim_checker,
    coverage_issuer,
    visit_claim,
    wellness_spec,
)
from tests.harness import world
from tests.incentives.test_routes import Signed
from tests.incentives.world import SPONSOR, incentive_world

CAMPAIGN = "wellness-test"
RULE = "wellness-visit"


def test_paid_claim_rules_need_codes_and_only_they_take_them() -> None:
    spec = wellness_spec(CAMPAIGN)
    check_spec(spec)  # the wellness campaign itself is fine

    def with_rule(rule: Rule) -> CampaignSpec:
        return msgspec.structs.replace(spec, rules=[rule])

    with pytest.raises(InvalidInput, match="codes go with paid_claim"):
        check_spec(with_rule(Rule(RULE, 100, evidence="paid_claim")))
    with pytest.raises(InvalidInput, match="codes go with paid_claim"):
        check_spec(
            with_rule(Rule(RULE, 100, credential_type="ImmunizationCredential", codes=["HC:G0439"]))
        )
    with pytest.raises(InvalidInput, match="takes no credential_type"):
        check_spec(
            with_rule(
                Rule(
                    RULE,
                    100,
                    evidence="paid_claim",
                    codes=["HC:G0439"],
                    credential_type="ImmunizationCredential",
                )
            )
        )
    with pytest.raises(InvalidInput, match="duplicate code"):
        check_spec(with_rule(Rule(RULE, 100, evidence="paid_claim", codes=["HC:G0439"] * 2)))
    # a bare five-digit code is not a billing code (the PHI guard would read it as a ZIP)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(
            {"id": RULE, "points": 1, "evidence": "paid_claim", "codes": ["99397"]}, Rule
        )


def test_a_paid_wellness_claim_is_rewarded_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            net = cast.net
            await approve_contracts(net, ("plans", "claims"))
            admin = net.gateway(SPONSOR, "admin")
            plan = msgspec.structs.replace(benefit_plan(SPONSOR), excluded=["HC:G0438"])
            await admin.submit("plans", "publish", [msgspec.to_builtins(plan)])
            node_dir = tmp_path / "payer-node"  # the payer node's data directory
            secret = member_secret(node_dir / "payer-member.secret")
            handles = NodeClaimDirectory(SPONSOR, secret, member_system_of(SPONSOR))
            issuer = await coverage_issuer(net, SPONSOR)
            members = {}
            for member_id in ("WA-one", "WB-two"):
                handle = handles.member_handle(SPONSOR, member_id)
                assert handle is not None
                await admin.submit("plans", "enrol", [msgspec.to_builtins(coverage(handle))])
                subject = Ed25519Signer()
                members[member_id] = (
                    handle,
                    Member(subject, MemberWallet(), issuer.credential(subject, member_id)),
                )
            desk = ClaimsDesk(net.gateway(SPONSOR), ClaimKeyer(os.urandom(32)))

            async def bill(claim_id: str, member_id: str, **kw: str) -> str:
                claim, parties = visit_claim(
                    claim_id, SPONSOR, members[member_id][0], member_id, **kw
                )
                outcome = await desk.adjudicate(claim, parties, submitter="Hospital")
                return outcome.adjudication.claim_key

            paid = await bill("WV-1", "WA-one")
            others = await bill("WV-2", "WB-two")
            office = await bill("OV-1", "WA-one", code="99213", service="2026-02-11")
            denied = await bill("WV-0", "WA-one", code="G0438", service="2026-01-15")
            voided_claim, parties = visit_claim(
                "WV-9", SPONSOR, members["WA-one"][0], "WA-one", service="2026-05-05"
            )
            original = await desk.adjudicate(voided_claim, parties)
            control = original.adjudication.payer_claim_control_number
            void = msgspec.structs.replace(
                voided_claim, frequency_code="8", original_reference=control
            )
            await desk.adjudicate(void, parties)
            voided = original.adjudication.claim_key

            await create_campaign(admin, wellness_spec(CAMPAIGN))
            awarder = claim_awarder(net, SPONSOR, handles, cast.keys)
            me = members["WA-one"][1]
            key = me.wallet.member_key(CAMPAIGN)

            async def present(claim_key: str, via: Awarder = awarder) -> RejectCode | None:
                outcome = await via.award(
                    CAMPAIGN, RULE, me.present(CAMPAIGN, RULE, claim_key), key
                )
                return outcome.code

            first = await awarder.award(CAMPAIGN, RULE, me.present(CAMPAIGN, RULE, paid), key)
            assert (first.status, first.points) == ("awarded", 2_500)
            assert await present(paid) is RejectCode.EVIDENCE_REPLAYED
            assert await present(others) is RejectCode.CLAIM_OTHER_MEMBER
            assert await present(office) is RejectCode.CLAIM_CODE_NOT_LISTED
            assert await present(denied) is RejectCode.CLAIM_NOT_PAID
            assert await present(voided) is RejectCode.CLAIM_REVERSED
            assert await present(os.urandom(32).hex()) is RejectCode.CLAIM_NOT_FOUND
            later = Awarder(
                net.gateway(SPONSOR),
                claim_checker(net, SPONSOR, handles, clock=lambda: time.time() + 400 * 86_400),
                cast.keys,
            )
            assert await present(others, later) is RejectCode.CLAIM_OTHER_MEMBER
            assert await present(paid, later) is RejectCode.EVIDENCE_STALE
            # a claim shown with someone else's coverage credential and holder proof
            thief = MemberWallet()
            stolen = ClaimEvidence(
                paid, me.coverage, me.wallet.holder_proof(me.did, CAMPAIGN, RULE)
            )
            taken = await awarder.award(CAMPAIGN, RULE, stolen, thief.member_key(CAMPAIGN))
            assert taken.code is RejectCode.HOLDER_PROOF_INVALID
            # an auditor's node cannot compute the payer's handles: the rest it checks alike
            auditor = claim_checker(net, "Lab", NodeClaimDirectory("Lab", os.urandom(32), "x"))
            spec = (await awarder.campaign(CAMPAIGN)).spec
            verdict = auditor.check(
                me.present(CAMPAIGN, RULE, paid), spec, spec.rules[0], SPONSOR, key
            )
            assert verdict.ok
            assert (
                auditor.check(
                    me.present(CAMPAIGN, RULE, denied), spec, spec.rules[0], SPONSOR, key
                ).code
                is RejectCode.CLAIM_NOT_PAID
            )

            # on chain: digests only — no claim key, no code billed, no amount, no member id
            state = await world(net, ("incentives",))
            raw = b"".join(
                k.encode() + v
                for k, (v, _) in state["incentives"].items()
                if not k.startswith("campaign/")
            )
            for secret in (paid.encode(), b"G0439", b"WA-one", members["WA-one"][0].encode()):
                assert secret not in raw
            awards = await net.gateway(SPONSOR).evaluate("incentives", "awards", [CAMPAIGN])
            assert [a["points"] for a in awards] == [2_500]
            assert paid not in msgspec.json.encode(awards).decode()

            # through the payer node's route: its awarder uses the node's member handles
            service = NodeService(net.peers[SPONSOR], net.gateway(SPONSOR))
            app = create_app(service)
            add_incentive_routes(app, service)
            identity = net.config.member(SPONSOR, "client0")
            side = open_incentives(
                app.app, IncentivesSettings(awarder=True), net.gateway(SPONSOR), identity, node_dir
            )
            assert side.awarder is not None
            payer = Signed(app, identity)
            you = members["WB-two"][1]

            def body(claim_key: str, **extra: object) -> dict[str, object]:
                proof = you.wallet.holder_proof(you.did, CAMPAIGN, RULE)
                return {
                    "rule": RULE,
                    "member_key": you.wallet.member_key(CAMPAIGN),
                    "credential": you.coverage,
                    "holder": {
                        "verification_method": proof.verification_method,
                        "signature": b64e(proof.signature),
                    },
                    "claim_key": claim_key,
                    **extra,
                }

            url = f"/v1/incentives/campaigns/{CAMPAIGN}/awards"
            dry = (await payer.call("POST", url, body(others, dry_run=True))).json()
            assert dry["status"] == "awarded"
            mine = (await payer.call("POST", url, body(others))).json()
            assert (mine["status"], mine["points"]) == ("awarded", 2_500)
            again = (await payer.call("POST", url, body(others))).json()
            assert (again["status"], again["code"]) == ("rejected", "evidence_replayed")
            theirs = (await payer.call("POST", url, body(paid))).json()
            assert (theirs["status"], theirs["code"]) == ("rejected", "claim_other_member")
            bad = await payer.call("POST", url, body("not-a-claim-key"))
            assert bad.status_code in (400, 422)
            await side.close()

            # sponsor AND auditor: Lab's node re-checks the claim over HTTP before co-signing
            audited = "wellness-audit"
            await create_campaign(
                admin, msgspec.structs.replace(wellness_spec(audited), auditor="Lab")
            )
            lab_service = NodeService(net.peers["Lab"], net.gateway("Lab"))
            lab_app = create_app(lab_service)
            add_incentive_routes(lab_app, lab_service)
            lab_handles = NodeClaimDirectory("Lab", os.urandom(32), member_system_of("Lab"))
            lab_app.app.state.incentive_cosigner = AuditorCosigner(  # type: ignore[attr-defined]
                net.config.member("Lab", "client0"),
                claim_checker(net, "Lab", lab_handles),
                cast.keys,
            )
            remote = RemoteCosigner(
                "http://lab", identity, transport=httpx.ASGITransport(app=lab_app)
            )
            cosigned = Awarder(
                net.gateway(SPONSOR), claim_checker(net, SPONSOR, handles), cast.keys, remote
            )
            try:
                key = me.wallet.member_key(audited)
                done = await cosigned.award(audited, RULE, me.present(audited, RULE, paid), key)
                assert done.status == "awarded"
                refused = await cosigned.award(
                    audited, RULE, me.present(audited, RULE, denied), key
                )
                assert refused.code is RejectCode.CLAIM_NOT_PAID
            finally:
                await remote.aclose()
            audit = await net.gateway("Lab").evaluate("incentives", "awards", [audited])
            assert [a["cosigned_by"] for a in audit] == ["Lab"]

    asyncio.run(scenario())
