"""The ``incentives`` contract on a real consortium: budgets, caps, programs, account-bound
points, auditor powers, dry runs, bad input, and what the ledger learns (pseudonyms only)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec
import pytest

from careledger.contracts.incentives import Incentives
from careledger.contracts.incentives.terms import Rule
from careledger.contracts.phi_guard import PhiRejected
from careledger.errors import ContractError, InvalidInput
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives import members, sponsors
from careledger.incentives.evidence import CredentialEvidence
from careledger.incentives.reports import auditor_view, campaign_report
from careledger.incentives.story import flu_spec
from careledger.incentives.wallet import MemberWallet
from tests.harness import world
from tests.incentives.helpers import DAY_MS, award, spec
from tests.incentives.world import AUDITOR, CLINIC, SPONSOR, incentive_world


def test_budget_exhausted_and_cap_exceeded_are_distinct(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            admin, gw = cast.net.gateway(SPONSOR, "admin"), cast.net.gateway(SPONSOR)
            await sponsors.create_campaign(admin, spec("small", budget=250, shards=4))
            a, b, c = (MemberWallet().member_key("small") for _ in range(3))
            assert (await award(gw, "small", a, 100))["status"] == "awarded"
            assert (await award(gw, "small", b, 100))["status"] == "awarded"
            # 50 left across the tranches: the award spills over them, then runs dry
            assert (await award(gw, "small", c, 60))["code"] == "budget_exhausted"
            assert (await award(gw, "small", c, 50))["status"] == "awarded"
            capped = await award(gw, "small", a, 101)
            assert (capped["code"], capped["cap"]) == ("cap_exceeded", "rule")
            # the yearly cap ($10) bites before the budget
            await sponsors.create_campaign(admin, spec("yearly", budget=5_000))
            d = MemberWallet().member_key("yearly")
            outcomes = [(await award(gw, "yearly", d, 100)) for _ in range(11)]
            assert [o["status"] for o in outcomes].count("awarded") == 10
            assert (outcomes[-1]["code"], outcomes[-1]["cap"]) == ("cap_exceeded", "yearly")
            report = await campaign_report(gw, "small")
            assert (report.funded, report.awarded, report.remaining) == (250, 250, 0)
            assert report.conserved

    asyncio.run(scenario())


def test_programs_enforce_their_caps(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            admin, gw = cast.net.gateway(SPONSOR, "admin"), cast.net.gateway(SPONSOR)
            kind = "ImmunizationCredential"
            with pytest.raises(InvalidInput, match="over \\$15"):
                await sponsors.create_campaign(
                    admin, spec("nominal-x", program="nominal", rule_points=2_000)
                )
            rules = [Rule("visit", 900, credential_type=kind, service_value_cents=800)]
            with pytest.raises(InvalidInput, match="worth more than the service"):
                await sponsors.create_campaign(
                    admin, spec("ma-x", program="medicare_advantage", rules=rules)
                )
            rules = [Rule("visit", 900, credential_type=kind, service_value_cents=900)]
            await sponsors.create_campaign(
                admin,
                spec("ma-plan", program="medicare_advantage", rules=rules, yearly_cap_cents=None),
            )
            key = MemberWallet().member_key("ma-plan")
            assert (await award(gw, "ma-plan", key, 900))["status"] == "awarded"
            schedule = [
                Rule(f"visit-{i}", 100 * i, credential_type=kind, visit=i) for i in (1, 2, 3)
            ]
            await sponsors.create_campaign(
                admin, spec("study", program="research", rules=schedule, yearly_cap_cents=None)
            )
            member = MemberWallet().member_key("study")
            early = await award(gw, "study", member, 200, rule="visit-2")
            assert early["code"] == "visit_out_of_order"
            for i in (1, 2, 3):
                assert (await award(gw, "study", member, 100 * i, rule=f"visit-{i}"))[
                    "status"
                ] == "awarded"
            acct = await gw.evaluate("incentives", "account", ["study", members_pseudonym(member)])
            assert (acct["visits"], acct["balance"]) == (3, 600)

    asyncio.run(scenario())


def members_pseudonym(member_key: str) -> str:
    from careledger.contracts.incentives import pseudonym_of

    return pseudonym_of(bytes.fromhex(member_key))


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", ceiling_cents=20_000) as cast:
            net = cast.net
            admin, gw = net.gateway(SPONSOR, "admin"), net.gateway(SPONSOR)
            await sponsors.create_campaign(admin, spec("audited", auditor=AUDITOR))
            await sponsors.create_campaign(admin, spec("plain"))
            key = MemberWallet().member_key("plain")
            before = await world(net, ("incentives",))
            cases = [
                (gw, ["plain", key, -5]),
                (gw, ["plain", key, 0]),
                (gw, ["plain", key, 10**18]),
                (gw, ["nope", key, 10]),
                (gw, ["plain", "zz" * 32, 10]),
                (gw, ["audited", key, 10]),  # no auditor co-signature
                (net.gateway(CLINIC), ["plain", key, 10]),  # not the sponsor
            ]
            for gateway, (campaign, member, points) in cases:
                with pytest.raises((InvalidInput, ContractError)):
                    await award(gateway, campaign, member, points, retries=0)
            with pytest.raises(InvalidInput, match="no rule"):
                await award(gw, "plain", key, 10, rule="missing", retries=0)
            with pytest.raises(ContractError, match="sponsor ceiling"):
                await sponsors.create_campaign(admin, spec("too-big", budget=15_000))
            with pytest.raises(ContractError, match="not allowed to sponsor"):
                await sponsors.create_campaign(net.gateway(CLINIC, "admin"), spec("clinic"))
            with pytest.raises(InvalidInput, match="campaign spec"):
                sponsors.parse_spec({"id": "Bad Id", "program": "cash"})
            with pytest.raises(InvalidInput):
                await cast.awarder.award("plain", "visit", CredentialEvidence({}, None), "00")  # type: ignore[arg-type]
            with pytest.raises(ContractError, match="unknown campaign"):
                await cast.awarder.award("nope", "visit", None, key)
            # the PHI guard covers this contract: a number that could identify someone is refused
            with pytest.raises(PhiRejected):
                await sponsors.create_campaign(admin, spec("mrn-123456789", budget=100))
            assert await world(net, ("incentives",)) == before

    asyncio.run(scenario())


def test_account_bound_redeem_expire_claw_back_freeze(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c") as cast:
            net = cast.net
            admin, gw = net.gateway(SPONSOR, "admin"), net.gateway(SPONSOR)
            lab = net.gateway(AUDITOR)
            assert not any("transfer" in name for name in Incentives.functions)
            await sponsors.create_campaign(admin, spec("short", valid_for_ms=2_500))
            await sponsors.create_campaign(admin, spec("audited", auditor=AUDITOR))
            w = MemberWallet()
            info = await gw.evaluate("incentives", "campaign", ["short"])
            assert info["transferable"] is False
            assert (await award(gw, "short", w.member_key("short"), 100))["status"] == "awarded"
            # the auditor co-signs directly here (the awarder path is covered elsewhere)
            assert await sponsors.redeem if False else True
            redeemed = await members.redeem(gw, w, "short", "mug")
            assert (redeemed.status, redeemed.balance) == ("redeemed", 50)
            broke = await members.redeem(gw, w, "short", "mug", 2)
            assert broke.code == "insufficient_balance"
            # a signature for one redemption cannot be replayed (sequence advanced)
            pseudonym = w.pseudonym("short")
            stale = w.sign_redemption("short", "mug", 1, 0)
            with pytest.raises(ContractError, match="not signed"):
                await gw.submit("incentives", "redeem", ["short", pseudonym, "mug", 1, stale])
            # claw-back and freeze: the sponsor's admin here (no auditor), never a client
            with pytest.raises(ContractError, match="admin"):
                await sponsors.freeze(gw, "short", pseudonym, "fraud_suspected")
            with pytest.raises(ContractError):
                await sponsors.claw_back(lab, "short", pseudonym, 10, "audit_finding")
            await sponsors.claw_back(admin, "short", pseudonym, 10, "audit_finding")
            with pytest.raises(InvalidInput, match="reason"):
                await sponsors.freeze(admin, "short", pseudonym, "because")
            await sponsors.freeze(admin, "short", pseudonym, "fraud_suspected")
            frozen = await award(gw, "short", w.member_key("short"), 10)
            assert frozen["code"] == "member_frozen"
            await admin.submit("incentives", "unfreeze", ["short", pseudonym])
            with pytest.raises(ContractError, match="still valid"):
                await sponsors.expire(gw, "short", [pseudonym])
            valid_until = (await gw.evaluate("incentives", "campaign", ["short"]))["spec"][
                "points_valid_until"
            ]
            deadline = time.monotonic() + 30
            while time.time() * 1000 <= valid_until + 50 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            late = await members.redeem(gw, w, "short", "mug")
            assert late.code == "points_expired"
            assert await sponsors.expire(gw, "short", [pseudonym]) == 40
            names = {e.name for e in cast.events.recent("short")}
            assert names >= {
                "campaign_created",
                "reward_awarded",
                "reward_rejected",
                "redeemed",
                "clawed_back",
                "frozen",
                "unfrozen",
                "expired",
            }
            report = await campaign_report(gw, "short")
            assert (report.awarded, report.redeemed, report.clawed_back, report.expired) == (
                100,
                50,
                10,
                40,
            )
            assert report.balances == 0
            assert report.conserved
            # the auditor's campaign: only the auditor freezes, and a frozen campaign refuses
            with pytest.raises(ContractError, match="auditor"):
                await sponsors.freeze(admin, "audited", "", "audit_finding")
            await sponsors.freeze(lab, "audited", "", "audit_finding")
            events = [e.name for e in cast.events.recent("audited")]
            assert "frozen" in events
            with pytest.raises(ContractError, match="only"):
                await auditor_view(net.gateway(CLINIC), "audited")
            assert await auditor_view(lab, "audited") == []

    asyncio.run(scenario())


def test_dry_run_check_writes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            net = cast.net
            await sponsors.create_campaign(
                net.gateway(SPONSOR, "admin"), flu_spec("flu-check", None)
            )
            patient, wallet = Ed25519Signer(), MemberWallet()
            shot, _ = cast.immunization(patient)
            evidence = CredentialEvidence(
                shot, wallet.holder_proof(patient, "flu-check", "flu-shot")
            )
            key = wallet.member_key("flu-check")
            before = await world(net, ("incentives",))
            height = net.peers[SPONSOR].height()
            ok = await cast.awarder.check("flu-check", "flu-shot", evidence, key)
            too_much = await cast.awarder.check(
                "flu-check", "flu-shot", evidence, key, points=5_000
            )
            later = await cast.awarder.check(
                "flu-check", "flu-shot", evidence, key, at=int(time.time() * 1000) + 200 * DAY_MS
            )
            assert (ok.status, too_much.code, too_much.cap) == ("awarded", "cap_exceeded", "rule")
            assert later.code == "campaign_closed"
            assert net.peers[SPONSOR].height() == height
            assert await world(net, ("incentives",)) == before
            assert (await cast.awarder.award("flu-check", "flu-shot", evidence, key)).awarded
            again = await cast.awarder.check("flu-check", "flu-shot", evidence, key)
            assert again.code == "evidence_replayed"
            pseudonym = wallet.pseudonym("flu-check")
            dry = await net.gateway(SPONSOR).evaluate(
                "incentives",
                "check_redeem",
                ["flu-check", pseudonym, "step-counter", 1, int(time.time() * 1000)],
            )
            assert dry["code"] == "insufficient_balance"

    asyncio.run(scenario())


def test_ledger_holds_pseudonyms_not_evidence(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c") as cast:
            net = cast.net
            admin = net.gateway(SPONSOR, "admin")
            for campaign in ("flu-north", "flu-south"):
                await sponsors.create_campaign(admin, flu_spec(campaign, AUDITOR))
            patient, wallet = Ed25519Signer(), MemberWallet()
            shot, _ = cast.immunization(patient)
            for campaign in ("flu-north", "flu-south"):
                proof = wallet.holder_proof(patient, campaign, "flu-shot")
                done = await cast.awarder.award(
                    campaign,
                    "flu-shot",
                    CredentialEvidence(shot, proof),
                    wallet.member_key(campaign),
                )
                assert done.awarded
            north, south = wallet.pseudonym("flu-north"), wallet.pseudonym("flu-south")
            assert north != south
            state = await world(net, ("incentives",))
            keys = list(state["incentives"])
            raw = b"".join(k.encode() + v for k, (v, _) in state["incentives"].items())
            blocks = b"".join(
                tx for block in net.peers[SPONSOR].blocks for tx in block.transactions
            )
            # each account is found only under its own campaign, and nothing the two share —
            # the wallet's keys, the patient's DID, any part of the credential — is on chain
            assert [k for k in keys if north in k] == [f"member/flu-north/{north}"]
            assert [k for k in keys if south in k] == [f"member/flu-south/{south}"]
            accounts = [
                msgspec.json.decode(
                    msgspec.json.encode(
                        await net.gateway(SPONSOR).evaluate("incentives", "account", [c, p])
                    )
                )
                for c, p in (("flu-north", north), ("flu-south", south))
            ]
            assert accounts[0]["member_key"] != accounts[1]["member_key"]
            secrets = [
                patient.did_key.encode(),
                patient.public_key.raw,
                wallet.secret,
                shot["credentialSubject"]["lotNumber"].encode(),
                shot["id"].encode(),
                shot["proof"]["proofValue"].encode(),
                b"Influenza",
                b"occurrenceDate",
            ]
            for secret in secrets:
                assert secret not in raw
                assert secret not in blocks
            awards = await auditor_view(net.gateway(AUDITOR), "flu-north")
            assert [a["pseudonym"] for a in awards] == [north]
            assert awards[0]["cosigned_by"] == AUDITOR

    asyncio.run(scenario())


def test_concurrent_awards_of_one_evidence_pay_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            gw, admin = cast.net.gateway(SPONSOR), cast.net.gateway(SPONSOR, "admin")
            await sponsors.create_campaign(admin, spec("race", shards=2))
            key = MemberWallet().member_key("race")
            same = os.urandom(32).hex()
            results = await asyncio.gather(
                *(award(gw, "race", key, 10, nullifier_hex=same, tag="ab" * 32) for _ in range(6))
            )
            assert [r["status"] for r in results].count("awarded") == 1
            assert {r.get("code") for r in results} == {None, "evidence_replayed"}
            # awards of different members debit different tranches: no MVCC conflicts to retry
            await sponsors.create_campaign(admin, spec("crowd", shards=64))
            many = await asyncio.gather(
                *(award(gw, "crowd", MemberWallet().member_key("crowd"), 10) for _ in range(20))
            )
            assert all(r["status"] == "awarded" for r in many)
            report = await campaign_report(gw, "crowd")
            assert (report.awarded, report.members) == (200, 20)
            assert report.conserved

    asyncio.run(scenario())
