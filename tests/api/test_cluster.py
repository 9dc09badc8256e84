"""Three organisations' nodes on real sockets: cross-organisation endorsement over HTTP with a
2-of-3 policy, commit events, MVCC conflicts reported as 409, unreachable endorsers."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from careledger.api.client import NodeClient
from careledger.api.models import CommitEventOut
from careledger.errors import EndorsementError, TransactionInvalid
from careledger.identity.msp import parse_cert
from careledger.ledger.transaction import decode_envelope
from careledger.node.consortium import ConsortiumConfig, init_consortium
from careledger.ordering.base import CutterConfig
from tests.api.nodes import Cluster, cluster
from tests.harness import ORGS


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _until_height(client: NodeClient, height: int) -> None:
    async with asyncio.timeout(10):
        while (await client.state()).height < height:
            await asyncio.sleep(0.01)


def test_submit_collects_endorsements_from_another_orgs_node(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with cluster(consortium) as c:
            org1 = await c.client("Org1", "admin")
            minted = await org1.submit("tokens", "mint", ["acct-1", 40])
            assert (minted.code, minted.result) == ("VALID", 40)
            envelope = decode_envelope(_b64((await org1.transaction(minted.tx_id)).envelope))
            endorsers = {parse_cert(e.endorser)[0].org for e in envelope.endorsements}
            assert len(endorsers) == 2
            assert "Org1" in endorsers  # the gateway's own org first, one other over HTTP

            org2 = await c.client("Org2")
            await _until_height(org2, minted.block + 1)
            assert await org2.evaluate("tokens", "balance", ["acct-1"]) == 40
            states = [await (await c.client(o)).state() for o in ORGS]
            assert len({(s.height, s.state_root) for s in states}) == 1

            # The other organisations' nodes stop answering: the policy cannot be met.
            height = (await org1.state()).height
            for org in ("Org2", "Org3"):
                server = c.nodes[org].server
                assert server is not None
                await server.stop()
            with pytest.raises(EndorsementError, match="cannot reach"):
                await org1.submit("tokens", "mint", ["acct-1", 1], retries=1)
            assert (await org1.state()).height == height

    asyncio.run(main())


def test_event_stream_delivers_commit_events(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with cluster(consortium) as c:
            admin = await c.client("Org2", "admin")
            await admin.submit("tokens", "mint", ["acct-a", 10])
            await admin.submit("tokens", "mint", ["acct-b", 1])
            watcher = await c.client("Org3")
            start = (await watcher.state()).height
            seen: list[CommitEventOut] = []

            async def watch() -> None:
                async for event in watcher.events(start):
                    seen.append(event)
                    if any(e.name == "tokens.transfer" for e in event.events):
                        return

            task = asyncio.create_task(watch())
            moved = await (await c.client("Org2")).submit(
                "tokens", "transfer", ["acct-a", "acct-b", 3]
            )
            await asyncio.wait_for(task, 10)
            assert seen[0].block == start
            last = seen[-1]
            assert (last.transactions[0].tx_id, last.transactions[0].code) == (moved.tx_id, "VALID")
            event = last.events[0]
            assert (event.tx_id, event.name) == (moved.tx_id, "tokens.transfer")
            assert event.payload == {"source": "acct-a", "target": "acct-b", "amount": 3}

            # From the start: every block from 0, in order, genesis included.
            replayed: list[int] = []
            async for event in watcher.events(0):
                replayed.append(event.block)
                if event.block == last.block:
                    break
            assert replayed == list(range(last.block + 1))

    asyncio.run(main())


def test_conflicting_transfers_get_409_with_the_code(tmp_path: Path) -> None:
    # A longer batch timeout puts concurrent transfers in one block, so MVCC must refuse some.
    consortium = init_consortium(tmp_path / "c", list(ORGS), cutter=CutterConfig(batch_timeout=0.3))

    async def main(c: Cluster) -> None:
        admin = await c.client("Org1", "admin")
        await admin.submit("tokens", "mint", ["acct-a", 100])
        await admin.submit("tokens", "mint", ["acct-b", 1])
        client = await c.client("Org1")
        outcomes = await asyncio.gather(
            *(
                client.submit("tokens", "transfer", ["acct-a", "acct-b", 1], retries=0)
                for _ in range(4)
            ),
            return_exceptions=True,
        )
        invalid = [o for o in outcomes if isinstance(o, TransactionInvalid)]
        valid = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(valid) >= 1
        assert invalid
        assert all(o.code == "MVCC_READ_CONFLICT" for o in invalid)
        assert await client.evaluate("tokens", "balance", ["acct-a"]) == 100 - len(valid)

    async def run() -> None:
        async with cluster(consortium) as c:
            await main(c)

    asyncio.run(run())
