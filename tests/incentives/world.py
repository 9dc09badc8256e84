"""An embedded consortium (Hospital issues, Payer sponsors, Lab audits) with the incentives
contract approved and an immunization issuer on the ledger, for the incentives tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from careledger.incentives.story import Cast, prepare
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from tests.harness import TEST_CUTTER, settle

ORGS = ["Hospital", "Lab", "Payer"]
SPONSOR, CLINIC, AUDITOR = "Payer", "Hospital", "Lab"


@asynccontextmanager
async def incentive_world(
    directory: Path, *, auditor: str | None = AUDITOR, ceiling_cents: int = 10**9
) -> AsyncIterator[Cast]:
    config = init_consortium(directory, ORGS, cutter=TEST_CUTTER)
    net = EmbeddedNetwork(config)
    await net.start()
    try:
        cast = await prepare(
            net, sponsor=SPONSOR, issuer_org=CLINIC, auditor=auditor, ceiling_cents=ceiling_cents
        )
        yield cast
        await settle(net)
    finally:
        for undo in cast.unfollow if "cast" in locals() else ():
            undo()
        await net.stop()
