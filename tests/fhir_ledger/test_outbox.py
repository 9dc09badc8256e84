"""The durable ledger outbox: locator entries and audit records survive a crash between the FHIR
write and the ledger transaction, and reach the ledger exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from careledger.errors import AccessDenied
from careledger.longitudinal.outbox import LedgerOutbox, group_notes
from careledger.node.consortium import ConsortiumConfig
from tests.fhir_ledger.world import holder, observation
from tests.harness import settle

ALL = (0, 2**42)


def test_entries_and_audit_survive_a_crash_before_the_flush(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=False)  # the flusher never runs: a crash before it
            handle = ledger.directory.by_patient(local)
            assert handle is not None, "the enrolment was reloaded from the outbox file"
            created = await asyncio.to_thread(service.create, "Observation", observation(local))
            obs_id = created.version.id
            with pytest.raises(AccessDenied):
                await asyncio.to_thread(service.read, "Observation", obs_id, requester="Org2")
            assert ledger.outbox.counts() == {"register": 1, "note": 1}
            ref = ledger.ref("Observation", obs_id)
            entries = h.query("locator", "entries", [handle.handle, [], 0])
            assert ref not in {e["ref"] for e in entries}
            denials_before = [
                r
                for r in h.query("audit", "records", [handle.handle, *ALL])
                if r["action"] == "deny"
            ]
            await h.crash()

            _service, reopened = h.open(start=True)  # the restart resubmits what was left
            await reopened.flush()
            await settle(h.net)
            assert reopened.outbox.counts() == {}
            mine = [
                e for e in h.query("locator", "entries", [handle.handle, [], 0]) if e["ref"] == ref
            ]
            assert [(e["version"], e["status"], e["holder"]) for e in mine] == [
                (1, "active", "Org1")
            ]
            denials = [
                r
                for r in h.query("audit", "records", [handle.handle, *ALL])
                if r["action"] == "deny"
            ]
            assert len(denials) == len(denials_before) + 1
            assert denials[-1]["requester"] == "Org2"
            assert denials[-1]["refs"] == []  # a denial lists no refs, only a count
            assert denials[-1]["count"] == 1

    asyncio.run(scenario())


def test_a_crash_after_the_commit_but_before_the_delete_does_not_double(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=False)
            link = ledger.directory.by_patient(local)
            assert link is not None
            created = await asyncio.to_thread(service.create, "Observation", observation(local))
            await asyncio.to_thread(service.read, "Observation", created.version.id)  # own user
            with pytest.raises(AccessDenied):
                await asyncio.to_thread(
                    service.read, "Patient", local.split("/")[1], requester="Org3"
                )
            ledger.outbox.done = lambda seqs: None  # type: ignore[method-assign]
            await ledger.flush()  # committed on the ledger, but the rows are not deleted
            await settle(h.net)
            entries = h.query("locator", "entries", [link.handle, [], 0])
            records = h.query("audit", "records", [link.handle, *ALL])
            assert ledger.outbox.counts() == {"register": 1, "audit": 1}
            await h.crash()

            _service, reopened = h.open(start=True)
            await reopened.flush()
            await settle(h.net)
            assert reopened.outbox.counts() == {}
            assert h.query("locator", "entries", [link.handle, [], 0]) == entries  # same tx
            assert h.query("audit", "records", [link.handle, *ALL]) == records

    asyncio.run(scenario())


def test_erasure_is_queued_durably_and_resubmitting_it_is_harmless(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=False)
            link = ledger.directory.by_patient(local)
            assert link is not None
            await asyncio.to_thread(service.erase_patient, local)
            assert ledger.outbox.counts() == {"erase": 1, "audit": 1}
            ledger.outbox.done = lambda seqs: None  # type: ignore[method-assign]
            await ledger.flush()
            await settle(h.net)
            erasures = h.query("locator", "erasures", [link.handle])
            await h.crash()

            _service, reopened = h.open(start=True)
            again = reopened.directory.by_patient(local)
            assert again is not None
            assert again.erased
            await reopened.flush()
            await settle(h.net)
            assert reopened.outbox.counts() == {}
            assert h.query("locator", "erasures", [link.handle]) == erasures
            erase_records = [
                r
                for r in h.query("audit", "records", [link.handle, *ALL])
                if r["action"] == "erase"
            ]
            assert len(erase_records) == 1
            assert {e["status"] for e in h.query("locator", "entries", [link.handle, [], 0])} == {
                "erased"
            }

    asyncio.run(scenario())


def test_a_contract_refusal_is_set_aside_not_retried_forever(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with holder(consortium, tmp_path) as (h, local):
            service, ledger = h.open(start=False)
            await asyncio.to_thread(service.erase_patient, local)
            await ledger.flush()
            link = ledger.directory.by_patient(local)
            assert link is not None
            # An entry for the erased patient (e.g. queued before the erasure by a lost run):
            ledger.outbox.add([("register", ledger._entry(
                link, "Observation", "late", 1, "create", "ab" * 32, None,
                _label(),
            ))])  # fmt: skip
            await ledger.flush()
            assert ledger.outbox.counts() == {"rejected": 1}

    asyncio.run(scenario())


def _label() -> Any:
    from careledger.fhir.resources import SensitivityLabel

    return SensitivityLabel()


def test_notes_group_into_records_with_fixed_ids(tmp_path: Path) -> None:
    outbox = LedgerOutbox(tmp_path / "o.sqlite")
    note = {
        "handle": "ph1" + "0" * 64,
        "action": "disclose",
        "reason": "consent",
        "requester": "Org2",
        "purpose": "TREAT",
        "resource_type": "Observation",
        "count": 1,
        "practitioner": None,
        "break_glass_reason": None,
    }
    outbox.add([("note", {**note, "ref": f"{i:064x}"}) for i in range(3)])
    outbox.add([("note", {**note, "action": "deny", "reason": "no-consent", "ref": "f" * 64})])
    assert outbox.seal_notes() == 2
    rows = outbox.pending()
    assert [r.kind for r in rows] == ["audit", "audit"]
    disclose, deny = (r.payload for r in rows)
    assert disclose["refs"] == [f"{i:064x}" for i in range(3)]
    assert disclose["count"] == 3
    assert deny["refs"] == []
    assert deny["count"] == 1
    assert len({disclose["id"], deny["id"]}) == 2
    outbox.close()
    reopened = LedgerOutbox(tmp_path / "o.sqlite")
    assert [r.payload for r in reopened.pending()] == [disclose, deny]  # ids do not change
    assert group_notes([]) == []
    reopened.close()
