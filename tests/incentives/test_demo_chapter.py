"""The incentives chapter of ``careledger demo`` on the demo's own consortium: rewarded once,
the replay and the cap refused with their codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.sim.demo import CHAPTERS
from careledger.sim.demo_incentives import INCENTIVES_CHAPTER
from careledger.sim.demo_payer import PAYER_CHAPTER
from careledger.sim.story import ORGS, DemoContext


def test_the_incentives_chapter_rewards_once_and_refuses_replay_cap_and_unlisted_claims(
    tmp_path: Path,
) -> None:
    assert INCENTIVES_CHAPTER in CHAPTERS

    async def scenario() -> tuple[list[str], dict[str, str]]:
        init_consortium(tmp_path / "net", ORGS, name="demo-incentives")
        net = EmbeddedNetwork.open(tmp_path / "net")
        await net.start()
        try:
            ctx = DemoContext(net)
            for _title, step in PAYER_CHAPTER.steps:  # the wellness visit needs its claims
                await step(ctx)
            lines = [await step(ctx) for _title, step in INCENTIVES_CHAPTER.steps]
            return lines, ctx.facts["incentives"]
        finally:
            await net.stop()

    lines, codes = asyncio.run(scenario())
    assert "awarded 1000 points" in lines[0]
    assert codes["replay"] == "evidence_replayed"
    assert codes["cap"].startswith("cap_exceeded")
    # the wellness visit: a paid G0439 claim rewarded once; replay and an unlisted code refused
    assert "awarded 2500 points" in lines[1]
    assert codes["wellness"] == "awarded"
    assert codes["wellness_replay"] == "evidence_replayed"
    assert codes["wellness_unlisted"] == "claim_code_not_listed"
