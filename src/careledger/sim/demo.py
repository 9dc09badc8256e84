"""The scripted story ``careledger demo`` runs on an embedded consortium.

The story is a list of chapters (:class:`careledger.sim.story.Chapter`), each in its own module;
this module is the only one that knows them all, and the order. The story is data, not console
code: the CLI renders the steps and the commit events; tests run the same story and check its
outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.node.peer import CommitEvent
from careledger.sim.demo_credentials import CREDENTIAL_CHAPTER
from careledger.sim.demo_fhir import FHIR_CHAPTER
from careledger.sim.demo_incentives import INCENTIVES_CHAPTER
from careledger.sim.demo_ledger import CLOSING_CHAPTER, LEDGER_CHAPTER
from careledger.sim.demo_payer import PAYER_CHAPTER
from careledger.sim.story import ORGS, Chapter, DemoContext, Step

__all__ = ["CHAPTERS", "ORGS", "STORY", "DemoContext", "Step", "run_demo"]

CHAPTERS: list[Chapter] = [
    LEDGER_CHAPTER,
    CREDENTIAL_CHAPTER,
    FHIR_CHAPTER,
    PAYER_CHAPTER,
    INCENTIVES_CHAPTER,
    CLOSING_CHAPTER,
]

STORY: list[Step] = [step for chapter in CHAPTERS for step in chapter.steps]


async def run_demo(
    data_dir: Path,
    on_step: Callable[[str, str], None],
    on_commit: Callable[[CommitEvent], None],
) -> DemoContext:
    """Create a consortium in ``data_dir`` (if empty), run every step, stop the network."""
    if not (data_dir / "consortium.toml").exists():
        init_consortium(data_dir, ORGS, name="careledger-demo")
    net = EmbeddedNetwork.open(data_dir)
    await net.start()
    ctx = DemoContext(net)
    unsubscribe = net.peers[ORGS[0]].subscribe(on_commit)
    try:
        for title, step in STORY:
            on_step(title, await step(ctx))
    finally:
        unsubscribe()
        await net.stop()
    return ctx
