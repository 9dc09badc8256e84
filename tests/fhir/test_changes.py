"""Listing what a store holds since an instant, and replaying it to the listener: a replay tells
exactly what the writes told (on SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from careledger.fhir.base import ChangedVersion, RecordingListener, ResourceEvent, StoredVersion
from careledger.fhir.errors import ResourceGone
from careledger.fhir.resources import CONFIDENTIALITY
from careledger.fhir.service import FhirService
from careledger.fhir.store.common import ChangeKey, ChangePage, change_page, iter_changes
from careledger.fhir.store.common import microseconds as us
from tests.fhir.conftest import Client, create, observation, patient


class Calls:
    """A listener that keeps each call's events apart (``fail``: raise instead)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[list[ResourceEvent]] = []
        self.fail = fail

    def resources_changed(self, events: Sequence[ResourceEvent]) -> None:
        if self.fail:
            raise RuntimeError("listener down")
        self.calls.append(list(events))

    def patient_erased(self, patient: str) -> None:
        pass


def _labelled(pid: str) -> dict[str, Any]:
    return {
        **observation(pid, when="2023-01-02T03:04:05Z"),
        "meta": {
            "security": [
                {"system": CONFIDENTIALITY, "code": "R"},
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"},
            ]
        },
    }


def test_a_replay_tells_the_listener_what_the_writes_told(
    client: Client, service: FhirService, listener: RecordingListener
) -> None:
    pid = create(client, patient())["id"]
    obs = create(client, _labelled(pid))
    url = f"/Observation/{obs['id']}"
    assert client.put(url, json={**obs, "status": "amended"}).status_code == 200
    assert client.delete(url).status_code == 204
    assert client.put(url, json=obs).status_code == 200  # a "create" again after the deletion
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation(pid, value=v),
                "request": {"method": "POST", "url": "Observation"},
            }
            for v in (60, 61)
        ],
    }
    assert client.post("/", json=bundle).status_code == 200
    live = list(listener.events)
    assert [e.action for e in live if e.id == obs["id"]] == ["create", "update", "delete", "create"]

    replayed = RecordingListener()
    service.listener = replayed
    assert service.replay_changes(0) == len(live) == 7
    assert replayed.events == live
    labelled = [e for e in replayed.events if e.id == obs["id"] and e.action != "delete"]
    assert {(e.sensitivity.confidentiality, e.sensitivity.categories) for e in labelled} == {
        ("R", ("HIV",))
    }
    assert {e.date for e in labelled} == {"2023-01-02T03:04:05Z"}
    assert replayed.events[0].date == replayed.events[0].last_updated  # a Patient has no date


def test_changes_since_is_inclusive_oldest_first_and_paged(
    client: Client, service: FhirService
) -> None:
    pid = create(client, patient())["id"]
    for value in range(5):
        create(client, observation(pid, value=value))
    listed = list(service.store.changes_since(0))
    assert len(listed) == 6
    assert [c.updated_us for c in listed] == sorted(us(c.stored.last_updated) for c in listed)
    assert list(service.store.changes_since(0, batch=2)) == listed
    assert list(service.store.changes_since(listed[3].updated_us, batch=1)) == listed[3:]
    assert list(service.store.changes_since(listed[-1].updated_us + 1)) == []
    assert all(c.created for c in listed)


def test_versions_of_an_erased_patient_are_not_listed_or_replayed(
    client: Client, service: FhirService
) -> None:
    gone = create(client, patient("Quill"))
    kept = create(client, patient("Marsh"))
    obs = create(client, observation(gone["id"]))
    assert client.delete(f"/Observation/{obs['id']}").status_code == 204
    create(client, observation(kept["id"]))
    service.erase_patient(gone["id"])

    listed = list(service.store.changes_since(0, batch=1))
    assert {c.stored.patient for c in listed} == {f"Patient/{kept['id']}"}
    calls = Calls()
    service.listener = calls
    assert service.replay_changes(0, batch=1) == 2
    assert [len(c) for c in calls.calls] == [1, 1]


def test_replay_calls_the_listener_in_batches_and_raises_its_errors(
    client: Client, service: FhirService
) -> None:
    pid = create(client, patient())["id"]
    for value in range(4):
        create(client, observation(pid, value=value))
    calls = Calls()
    service.listener = calls
    assert service.replay_changes(0, batch=2) == 5
    assert [len(c) for c in calls.calls] == [2, 2, 1]
    service.listener = Calls(fail=True)
    with pytest.raises(RuntimeError, match="listener down"):
        service.replay_changes(0)
    service.listener = None
    assert service.replay_changes(0) == 0


def test_paging_goes_on_past_a_page_erased_under_it() -> None:
    """A page whose every version became unreadable (erased since the query) is skipped, not
    taken for the end of the listing."""
    version = StoredVersion("Observation", "o", 1, "2024-01-01T00:00:00Z", b"{}", "h", None)

    def decrypt(row: Sequence[Any]) -> StoredVersion:
        if row[1] == "erased":
            raise ResourceGone("erased", erased=True)
        return version

    rows = [(i, 1, "Observation", "erased" if i < 4 else "o", 1) for i in range(6)]

    def read_page(after: ChangeKey | None) -> ChangePage:
        start = 0 if after is None else after[0] + 1
        return change_page(rows[start : start + 2], decrypt)

    assert list(iter_changes(read_page, 2)) == [
        ChangedVersion(version, True, 4),
        ChangedVersion(version, True, 5),
    ]

    def gone_not_erased(row: Sequence[Any]) -> StoredVersion:
        raise ResourceGone("deleted")

    with pytest.raises(ResourceGone):
        change_page(rows[:1], gone_not_erased)
