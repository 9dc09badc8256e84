"""A validation pool (worker processes) gives a transaction Bundle the same outcome as
validating in the request's thread: the same stored resources, the same refusal naming the
same entry with nothing stored, and a pool that broke falls back to checking in the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from careledger.fhir.base import RecordingListener, ResourceStore
from careledger.fhir.service import FhirService
from careledger.fhir.validation_pool import ValidationPool
from tests.fhir.conftest import Client, make_client, observation, patient

PATIENT_URN = "urn:uuid:0c3c9d5e-6f42-4d0e-9a0b-1f8f1d2c3b4a"


@pytest.fixture(scope="module")
def pool() -> Iterator[ValidationPool]:
    pool = ValidationPool(2, min_items=2)
    pool.warm_up()
    yield pool
    pool.close()


def _bundle(bad: dict[str, Any] | None = None) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": PATIENT_URN,
            "resource": patient(),
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for n in range(9):
        obs = observation(f"code-{n}")
        obs["subject"] = {"reference": PATIENT_URN}
        entries.append({"resource": obs, "request": {"method": "POST", "url": "Observation"}})
    if bad is not None:
        entries[6]["resource"] = bad
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def _client(
    made: list[Client], store: ResourceStore, listener: RecordingListener, pool: ValidationPool
) -> Client:
    service = FhirService(
        store, base_url="http://fhir.test/fhir", listener=listener, validation=pool
    )
    made.append(make_client(service))
    return made[-1]


def test_a_bundle_validated_in_the_pool_is_stored_with_its_references_rewritten(
    store: ResourceStore,
    listener: RecordingListener,
    pool: ValidationPool,
    clients: list[Client],
) -> None:
    client = _client(clients, store, listener, pool)
    response = client.post("/", json=_bundle())
    assert response.status_code == 200, response.text
    assert client.get("/Observation").json()["total"] == 9
    pid = response.json()["entry"][0]["resource"]["id"]
    subjects = {e.patient for e in listener.events}
    assert subjects == {f"Patient/{pid}"}


@pytest.mark.parametrize(
    "bad",
    [
        {"resourceType": "Observation", "code": {"text": "x"}},  # status missing
        {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "oops": 1},
        {"resourceType": "Patient", "name": [{"family": "X"}]},  # not the URL's type
        "not a resource",
    ],
)
def test_the_pool_refuses_as_the_thread_does_and_stores_nothing(
    store: ResourceStore,
    listener: RecordingListener,
    pool: ValidationPool,
    service: FhirService,
    clients: list[Client],
    bad: Any,
) -> None:
    pooled = _client(clients, store, listener, pool).post("/", json=_bundle(bad))
    clients.append(make_client(service))
    inline = clients[-1].post("/", json=_bundle(bad))
    assert pooled.status_code == inline.status_code
    assert pooled.status_code in (400, 422)
    assert pooled.json()["issue"] == inline.json()["issue"]
    assert "entry[6]" in pooled.text
    assert clients[0].get("/Observation").json()["total"] == 0
    assert listener.events == []


def test_a_closed_pool_falls_back_to_validating_in_the_caller(
    store: ResourceStore, listener: RecordingListener, clients: list[Client]
) -> None:
    broken = ValidationPool(1, min_items=2)
    broken.close()
    client = _client(clients, store, listener, broken)
    refused = client.post("/", json=_bundle({"resourceType": "Observation"}))
    assert refused.status_code == 422
    assert client.post("/", json=_bundle()).status_code == 200
    assert client.get("/Observation").json()["total"] == 9
