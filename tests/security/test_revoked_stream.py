"""Finding of the route walk: ``GET /v1/events`` authenticated its reader once, so a member
revoked while subscribed kept receiving every commit. The stream now ends at the block that
revokes it."""

from __future__ import annotations

import asyncio
import time

from careledger.api.client import NodeClient
from careledger.identity.msp import Role, enrol
from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import cluster


def test_a_revoked_reader_s_event_stream_ends(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with cluster(consortium, orgs=("Org1", "Org2"), contracts=()) as c:
            now = int(time.time() * 1000)
            reader = enrol(consortium.root_key("Org1"), "Org1", "reader", Role.CLIENT, 77, now)
            blocks: list[int] = []
            async with NodeClient(c.nodes["Org1"].url, reader) as client:

                async def follow() -> None:
                    async for event in client.events(0):
                        blocks.append(event.block)

                following = asyncio.create_task(follow())
                org1, org2 = await c.client("Org1", "admin"), await c.client("Org2", "admin")
                change = {"org": "Org1", "serial": "77"}
                motion = await org1.submit("_gov", "propose", ["revoke_member", change])
                applied = await org2.submit("_gov", "approve", [motion.result["id"]])
                assert applied.result["status"] == "applied"
                async with asyncio.timeout(15):
                    await following  # ends by itself: the server closed the stream
            assert blocks, "the member saw blocks while it was one"
            assert max(blocks) <= applied.block  # nothing after the revoking block

    asyncio.run(main())
