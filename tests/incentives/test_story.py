"""The flu-shot campaign the demo chapter runs, end to end on an embedded consortium."""

from __future__ import annotations

import asyncio
from pathlib import Path

from careledger.incentives.story import flu_shot_campaign
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from tests.harness import TEST_CUTTER, assert_consistent


def test_flu_shot_campaign(tmp_path: Path) -> None:
    config = init_consortium(tmp_path / "c", ["Hospital", "Lab", "Payer"], cutter=TEST_CUTTER)

    async def scenario() -> None:
        net = EmbeddedNetwork(config)
        await net.start()
        try:
            story = await flu_shot_campaign(net)
            print("\n".join(story.lines))
            assert story.codes == {"replay": "evidence_replayed", "cap": "cap_exceeded:yearly"}
            report = story.report
            assert (report.funded, report.awarded, report.redeemed) == (100_000, 1_000, 500)
            assert report.remaining == 99_000
            assert report.members is None
            assert report.conserved
            names = [e.name for e in story.cast.events.recent("flu-2026")]
            assert names.count("reward_awarded") == 1
            assert "redeemed" in names
            assert {e.code for e in story.cast.events.recent(name="reward_rejected")} == {
                "evidence_replayed",
                "cap_exceeded",
            }
            await assert_consistent(net)
        finally:
            await net.stop()

    asyncio.run(scenario())
