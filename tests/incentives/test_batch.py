"""Several awards in one transaction (``award_batch``) and the awarder that groups concurrent
awards: every award keeps its own decision, result and event; a replay inside a batch is refused;
a malformed award refuses the batch with nothing written, and the awarder then decides the others
one by one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from careledger.contracts.incentives.batch import MAX_BATCH
from careledger.contracts.incentives.terms import Campaign, Rule
from careledger.endorsement.simulator import MAX_EVENTS
from careledger.errors import ContractError, InvalidInput
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives import sponsors
from careledger.incentives.awarding import Cosignature, Cosigner
from careledger.incentives.batching import AwardBatcher
from careledger.incentives.codes import RejectCode
from careledger.incentives.evidence import CredentialEvidence, EvidenceDigests, EvidenceVerdict
from careledger.incentives.reports import campaign_report
from careledger.incentives.story import flu_spec
from careledger.incentives.wallet import MemberWallet
from tests.harness import world
from tests.incentives.helpers import award_batch, batch_item, spec
from tests.incentives.world import SPONSOR, incentive_world


def test_each_award_of_a_batch_is_decided_on_its_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            gw, admin = cast.net.gateway(SPONSOR), cast.net.gateway(SPONSOR, "admin")
            await sponsors.create_campaign(admin, spec("batch", budget=350, shards=4))
            a, b, c, d = (MemberWallet().member_key("batch") for _ in range(4))
            same = os.urandom(32).hex()
            items = [
                batch_item(a, 100, nullifier_hex=same),
                batch_item(b, 100, nullifier_hex=same),  # the same evidence again: refused
                batch_item(b, 100),
                batch_item(c, 101),  # over the rule's points
                batch_item(c, 100),
                batch_item(d, 100),  # 50 left: the budget runs dry inside the batch
            ]
            tx_id, results = await award_batch(gw, "batch", items)
            codes = [r.get("code") or r["status"] for r in results]
            assert codes == [
                "awarded",
                "evidence_replayed",
                "awarded",
                "cap_exceeded",
                "awarded",
                "budget_exhausted",
            ]
            assert [r["balance"] for r in results if r["status"] == "awarded"] == [100, 100, 100]
            report = await campaign_report(gw, "batch")
            assert (report.funded, report.awarded, report.remaining) == (350, 300, 50)
            assert report.conserved
            # one event per award, each under the batch's transaction
            names = [(e.name, e.code) for e in cast.events.recent("batch") if e.tx_id == tx_id]
            assert names == [
                ("reward_awarded", None),
                ("reward_rejected", "evidence_replayed"),
                ("reward_awarded", None),
                ("reward_rejected", "cap_exceeded"),
                ("reward_awarded", None),
                ("reward_rejected", "budget_exhausted"),
            ]
            # a later award with evidence a batch paid is refused as a replay
            _, again = await award_batch(gw, "batch", [batch_item(d, 10, nullifier_hex=same)])
            assert again[0]["code"] == "evidence_replayed"

    asyncio.run(scenario())


def test_a_malformed_award_refuses_the_batch_and_writes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            gw, admin = cast.net.gateway(SPONSOR), cast.net.gateway(SPONSOR, "admin")
            await sponsors.create_campaign(admin, spec("strict", budget=1_000))
            key = MemberWallet().member_key("strict")
            before = await world(cast.net, ("incentives",))
            with pytest.raises(InvalidInput, match="points"):
                await award_batch(gw, "strict", [batch_item(key, 10), batch_item(key, 0)])
            with pytest.raises(InvalidInput, match=f"1 to {MAX_BATCH} awards"):
                await award_batch(gw, "strict", [])
            with pytest.raises(InvalidInput, match=f"1 to {MAX_BATCH} awards"):
                await award_batch(gw, "strict", [batch_item(key, 1)] * (MAX_BATCH + 1))
            with pytest.raises(InvalidInput):  # not an award: the wrong number of fields
                await award_batch(gw, "strict", [batch_item(key, 10)[:-1]])
            with pytest.raises(ContractError, match="unknown campaign"):
                await award_batch(gw, "nowhere", [batch_item(key, 10)])
            assert await world(cast.net, ("incentives",)) == before

    asyncio.run(scenario())


def test_a_full_batch_fits_in_one_transaction(tmp_path: Path) -> None:
    assert MAX_BATCH == MAX_EVENTS  # one event per award

    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            gw, admin = cast.net.gateway(SPONSOR), cast.net.gateway(SPONSOR, "admin")
            await sponsors.create_campaign(admin, spec("full", budget=10_000, shards=64))
            items = [batch_item(MemberWallet().member_key("full"), 10) for _ in range(MAX_BATCH)]
            _, results = await award_batch(gw, "full", items)
            assert all(r["status"] == "awarded" for r in results)
            report = await campaign_report(gw, "full")
            assert (report.awarded, report.members, report.conserved) == (640, 64, True)

    asyncio.run(scenario())


class _Forging:
    """An auditor that co-signs, but signs one member's award with a broken signature."""

    def __init__(self, real: Cosigner, forged_for: str) -> None:
        self.real, self.forged_for = real, forged_for

    async def cosign(
        self,
        campaign: Campaign,
        rule: Rule,
        evidence: Any,
        member_key: str,
        points: int,
        proposed: EvidenceDigests,
    ) -> Cosignature | EvidenceVerdict:
        answer = await self.real.cosign(campaign, rule, evidence, member_key, points, proposed)
        if member_key == self.forged_for and isinstance(answer, Cosignature):
            return Cosignature(answer.identity, bytes(64))
        return answer


def test_awarder_groups_concurrent_awards_and_isolates_a_bad_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c") as cast:
            await sponsors.create_campaign(
                cast.net.gateway(SPONSOR, "admin"), flu_spec("crowd", "Lab", budget=10**6)
            )
            awarder = cast.awarder
            # small batches, so the forged award spoils one batch and others go through
            awarder.batcher = AwardBatcher(awarder.gateway, max_batch=8, in_flight=2)
            presented: list[tuple[CredentialEvidence, str]] = []
            for _ in range(40):
                patient, wallet = Ed25519Signer(), MemberWallet()
                shot, _ = cast.immunization(patient, revocable=False)
                proof = wallet.holder_proof(patient, "crowd", "flu-shot")
                presented.append((CredentialEvidence(shot, proof), wallet.member_key("crowd")))
            presented.append(presented[3])  # the same evidence presented twice at once
            forged_for = presented[7][1]
            awarder._cosigner = _Forging(awarder.cosigner, forged_for)  # type: ignore[arg-type]

            async def one(evidence: CredentialEvidence, key: str) -> Any:
                return await awarder.award("crowd", "flu-shot", evidence, key)

            outcomes = await asyncio.gather(
                *(one(e, k) for e, k in presented), return_exceptions=True
            )
            # the award with a forged co-signature fails alone, as a lone award would
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            assert len(failed) == 1
            assert isinstance(outcomes[7], ContractError)
            assert "co-signature" in str(outcomes[7])
            done = [o for o in outcomes if not isinstance(o, BaseException)]
            assert sum(o.awarded for o in done) == 39
            assert [o.code for o in done if not o.awarded] == [RejectCode.EVIDENCE_REPLAYED]
            assert awarder.batcher.awards == 40
            assert awarder.batcher.transactions < 40  # some went together
            report = await campaign_report(awarder.gateway, "crowd")
            assert (report.awarded, report.conserved) == (39 * 1_000, True)

    asyncio.run(scenario())


def test_an_award_cancelled_before_it_is_sent_is_not_sent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with incentive_world(tmp_path / "c", auditor=None) as cast:
            gw, admin = cast.net.gateway(SPONSOR), cast.net.gateway(SPONSOR, "admin")
            await sponsors.create_campaign(admin, spec("quit", budget=1_000, shards=4))
            batcher = AwardBatcher(gw, max_batch=4, in_flight=1)
            keys = [MemberWallet().member_key("quit") for _ in range(3)]
            first = asyncio.ensure_future(batcher.submit(["quit", *batch_item(keys[0], 10)]))
            await asyncio.sleep(0)  # the first takes the only slot
            waiting = [
                asyncio.ensure_future(batcher.submit(["quit", *batch_item(k, 10)]))
                for k in keys[1:]
            ]
            await asyncio.sleep(0)
            waiting[0].cancel()
            assert (await first).result["status"] == "awarded"
            assert (await waiting[1]).result["status"] == "awarded"
            with pytest.raises(asyncio.CancelledError):
                await waiting[0]
            report = await campaign_report(gw, "quit")
            assert (report.awarded, report.conserved) == (20, True)

    asyncio.run(scenario())
