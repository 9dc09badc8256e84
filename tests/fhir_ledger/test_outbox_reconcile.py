"""Reconciliation on start: a version stored but never written to the outbox — a crash between
the FHIR store's commit and the outbox write, or a listener that failed — still reaches the
record locator, once, and the outbox's cursor only moves forward."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from careledger.errors import StorageError
from careledger.fhir.base import RecordingListener, ResourceEvent
from careledger.fhir.store.common import microseconds
from careledger.longitudinal.ledger import RECONCILE_MARGIN_US
from careledger.longitudinal.outbox import LedgerOutbox
from careledger.node.consortium import ConsortiumConfig
from tests.fhir_ledger.world import Holder, entries_of, holder, observation, world
from tests.harness import settle


class CrashBeforeTheOutbox:
    """Stands for the process dying after the store's commit, before the listener's write."""

    def resources_changed(self, events: Sequence[ResourceEvent]) -> None:
        raise RuntimeError("the process died here")

    def patient_erased(self, patient: str) -> None:
        raise RuntimeError("the process died here")


def _ids(bundle: Any) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries_of(bundle)}


def _entries(h: Holder, handle: str) -> list[dict[str, Any]]:
    return list(h.query("locator", "entries", [handle, [], 0]))


async def _restart(h: Holder) -> None:
    """Crash, then start as a node does: reconcile, submit, wait for the ledger."""
    await h.crash()
    _service, ledger = h.open(start=True, reconcile=True)
    await ledger.flush()
    await settle(h.net)
    assert ledger.outbox.counts() == {}


def test_another_provider_finds_a_resource_once_its_holder_reconciles(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            lab = w.providers["Org2"]
            lab.service.listener = CrashBeforeTheOutbox()
            created = await asyncio.to_thread(
                lab.service.create, "Observation", observation(w.local)
            )
            ref = f"Observation/{created.version.id}"
            await w.patient.grant(w.net, "Org1", "Org1")
            await w.flush()
            assert ref not in _ids(await w.everything("Org1", "?_count=1000"))

            lab.service.listener = lab.ledger
            assert lab.ledger.reconcile(lab.service) >= 1
            await w.flush()
            assert ref in _ids(await w.everything("Org1", "?_count=1000"))

    asyncio.run(scenario())


def test_a_crash_before_the_outbox_write_is_repaired_at_restart_and_replays_are_idempotent(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=False)
            link = ledger.directory.by_patient(local)
            assert link is not None
            cursor = ledger.outbox.cursor()
            assert cursor > 0  # the holder's writes so far moved it
            service.listener = CrashBeforeTheOutbox()
            created = await asyncio.to_thread(service.create, "Observation", observation(local))
            assert ledger.outbox.counts() == {}  # the write stands, the outbox never heard
            assert ledger.outbox.cursor() == cursor
            ref = ledger.ref("Observation", created.version.id)

            await _restart(h)
            mine = [e for e in _entries(h, link.handle) if e["ref"] == ref]
            assert [(e["version"], e["status"]) for e in mine] == [(1, "active")]
            assert h.ledger is not None
            assert h.ledger.outbox.cursor() == microseconds(created.version.last_updated)
            entries = _entries(h, link.handle)
            assert len({e["ref"] for e in entries}) == len(entries)

            await _restart(h)  # the same window replayed again: nothing changes on the ledger
            assert _entries(h, link.handle) == entries

    asyncio.run(scenario())


def test_a_deletion_lost_in_the_window_is_replayed_and_an_erased_patient_is_not(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=True)
            link = ledger.directory.by_patient(local)
            assert link is not None
            created = await asyncio.to_thread(service.create, "Observation", observation(local))
            oid = created.version.id
            await ledger.flush()
            service.listener = CrashBeforeTheOutbox()
            await asyncio.to_thread(service.delete, "Observation", oid)
            ref = ledger.ref("Observation", oid)

            await _restart(h)
            mine = [e for e in _entries(h, link.handle) if e["ref"] == ref]
            assert [(e["version"], e["status"]) for e in mine] == [(2, "deleted")]

            assert h.service is not None
            assert h.ledger is not None
            await asyncio.to_thread(h.service.erase_patient, local)
            await h.ledger.flush()
            await h.crash()
            service, ledger = h.open(start=False, reconcile=True)
            assert ledger.outbox.counts() == {}  # nothing queued (that the contract would refuse)
            recorder = RecordingListener()
            service.listener = recorder
            service.replay_changes(0)
            assert local not in {e.patient for e in recorder.events}
            assert {e["status"] for e in _entries(h, link.handle)} == {"erased"}

    asyncio.run(scenario())


def test_a_failed_listener_call_holds_the_cursor_until_the_next_start(
    consortium: ConsortiumConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later writes succeed but must not carry the cursor past the failed one: however long the
    process runs on, the next start still replays it."""

    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=False)
            link = ledger.directory.by_patient(local)
            assert link is not None
            add = ledger.outbox.add

            def full_disk(*args: Any, **kwargs: Any) -> None:
                raise StorageError("ledger outbox write failed: disk I/O error")

            monkeypatch.setattr(ledger.outbox, "add", full_disk)
            lost = await asyncio.to_thread(service.create, "Observation", observation(local))
            monkeypatch.setattr(ledger.outbox, "add", add)
            later = await asyncio.to_thread(service.create, "Observation", observation(local))
            assert ledger.outbox.counts() == {"register": 1}
            lost_us = microseconds(lost.version.last_updated)
            assert ledger.outbox.cursor() == lost_us - 1
            assert microseconds(later.version.last_updated) > lost_us

            await _restart(h)
            refs = {e["ref"] for e in _entries(h, link.handle)}
            assert ledger.ref("Observation", lost.version.id) in refs
            assert ledger.ref("Observation", later.version.id) in refs
            assert h.ledger is not None
            assert h.ledger.outbox.cursor() == microseconds(later.version.last_updated)

    asyncio.run(scenario())


def test_the_cursor_never_goes_back_and_bounds_the_replay(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, _local):
            service, ledger = h.open(start=False)
            newest = ledger.outbox.cursor()
            assert ledger.reconcile(service) > 0  # the setup's writes, all within the margin
            assert ledger.outbox.cursor() == newest  # replaying old events moved nothing back
            ledger.outbox.add([], cursor=newest - 1)
            assert ledger.outbox.cursor() == newest
            ledger.outbox.add([], cursor=newest + 2 * RECONCILE_MARGIN_US)  # a clock ahead
            queued = ledger.outbox.counts()
            assert ledger.reconcile(service) == 0  # nothing stored within the margin
            assert ledger.outbox.counts() == queued

    asyncio.run(scenario())


def test_an_outbox_file_keeps_its_cursor(tmp_path: Path) -> None:
    outbox = LedgerOutbox(tmp_path / "o.sqlite")
    assert outbox.cursor() == 0
    outbox.add([("erase", {"handle": "h"})], cursor=1_000)
    outbox.add([], cursor=500)
    assert outbox.cursor() == 1_000
    outbox.add([])  # neither rows nor a cursor: no transaction
    outbox.close()
    reopened = LedgerOutbox(tmp_path / "o.sqlite")
    assert reopened.cursor() == 1_000
    assert reopened.counts() == {"erase": 1}
    reopened.close()
