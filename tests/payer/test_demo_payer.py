"""The payer chapter of the demo runs end to end on a fresh demo consortium."""

from __future__ import annotations

import asyncio
from pathlib import Path

from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.sim.demo import CHAPTERS, DemoContext
from careledger.sim.demo_ledger import CLOSING_CHAPTER
from careledger.sim.demo_payer import PAYER_CHAPTER


def test_payer_chapter(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        init_consortium(tmp_path, ["Hospital", "Lab", "Payer"], name="demo")
        net = EmbeddedNetwork.open(tmp_path, fsync=False)
        await net.start()
        try:
            ctx = DemoContext(net)
            return [await step(ctx) for _title, step in PAYER_CHAPTER.steps]
        finally:
            await net.stop()

    lines = asyncio.run(scenario())
    assert "in force True" in lines[0]
    assert "A4 (pended" in lines[1]
    assert "A1 (certified)" in lines[1]
    assert "999 AK9*A*1*1*1" in lines[2]
    assert "6 adjudicated" in lines[2]
    assert "the same bytes" in lines[3]
    assert "equal to the 835" in lines[3]
    assert "denied" in lines[4]
    assert "OA-18" in lines[4]
    assert "verified: True" in lines[5]
    assert "now reads verified: False" in lines[5]
    assert CHAPTERS.index(PAYER_CHAPTER) < CHAPTERS.index(CLOSING_CHAPTER)
