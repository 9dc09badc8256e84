"""What ``$everything`` remembers between requests (:mod:`careledger.longitudinal.read_cache`)
never hides a change: a resource indexed or updated after a read is in the next read, verified."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from careledger.node.consortium import ConsortiumConfig
from tests.fhir_ledger.world import entries_of, observation, outcome_of, world


def _by_id(bundle: Any) -> dict[str, Any]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in entries_of(bundle)
    }


def test_a_resource_created_or_updated_after_a_read_is_in_the_next_read(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            await w.patient.grant(w.net, "Org1", "Org1")
            await w.flush()
            first = await w.everything(query="?_count=1000")
            again = await w.everything(query="?_count=1000")  # served with kept entries
            assert _by_id(again) == _by_id(first)
            lab = w.providers["Org2"].service
            written = await asyncio.to_thread(lab.create, "Observation", observation(w.local))
            created = msgspec.json.decode(written.version.content or b"{}")
            await w.flush()
            grown = await w.everything(query="?_count=1000")
            ids = _by_id(grown)
            assert len(ids) == len(_by_id(first)) + 1
            assert f"Observation/{created['id']}" in ids
            changed = dict(created, status="amended")
            await asyncio.to_thread(lab.update, "Observation", created["id"], changed)
            await w.flush()
            updated = await w.everything(query="?_count=1000")
            assert outcome_of(updated) == ""  # the new version verifies against its new entry
            assert _by_id(updated)[f"Observation/{created['id']}"]["status"] == "amended"

    asyncio.run(scenario())


def test_newest_first_and_a_bad_sort_refused(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            await w.patient.grant(w.net, "Org1", "Org1")
            await w.flush()
            oldest = entries_of(await w.everything(query="?_type=Observation&_count=1000"))
            newest = entries_of(
                await w.everything(query="?_type=Observation&_count=1000&_sort=-date")
            )
            dates = [e["resource"].get("effectiveDateTime") or "" for e in newest]
            assert dates == sorted(dates, reverse=True)
            assert [e["resource"]["id"] for e in newest] == [
                e["resource"]["id"] for e in reversed(oldest)
            ]
            bad = await w.providers["Org1"].get(f"/{w.local}/$everything?_sort=name")
            assert bad.status_code == 400

    asyncio.run(scenario())
