"""Standard FHIR clients against a real uvicorn server on 127.0.0.1: the SMART on FHIR Python
client (``fhirclient``) and ``fhirpy``, for create, read, search and paging."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from careledger.fhir.api import create_app
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A FHIR server in a background thread, stopped after the module's tests."""
    path: Path = tmp_path_factory.mktemp("fhir-server") / "fhir.sqlite"
    store = SQLiteResourceStore(path, MasterKey.generate())
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(FhirService(store, base_url=url))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def test_fhirclient_create_read_search_and_paging(server_url: str) -> None:
    from fhirclient import client
    from fhirclient.models.humanname import HumanName
    from fhirclient.models.patient import Patient

    smart = client.FHIRClient(settings={"app_id": "careledger-test", "api_base": server_url})
    try:
        ids = []
        for i in range(7):
            p = Patient({"gender": "female"})
            p.name = [HumanName({"family": "Fenwick", "given": [f"Cleo{i}"]})]
            created = p.create(smart.server)
            assert created is not None
            ids.append(created["id"])
        read = Patient.read(ids[0], smart.server)
        assert read.name[0].given == ["Cleo0"]
        search = Patient.where(struct={"family": "fenwick", "_count": "3"})
        bundles = list(search.perform_iter(smart.server))  # follows the next links
        assert [len(b.entry) for b in bundles] == [3, 3, 1]
        assert bundles[0].total == 7
        found = search.perform_resources_iter(smart.server)
        assert sorted(r.id for r in found) == sorted(ids)
    finally:
        smart.server.session.close()


def test_fhirpy_create_read_search_and_paging(server_url: str) -> None:
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(server_url)
    patient = fhir.resource(
        "Patient",
        name=[{"family": "Oduya", "given": ["Juno"]}],
        gender="male",
        birthDate="1990-01-02",
    )
    patient.save()
    assert patient.id
    again = fhir.reference("Patient", patient.id).to_resource()
    assert again["name"][0]["family"] == "Oduya"
    for value in range(12):
        fhir.resource(
            "Observation",
            status="final",
            code={"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            subject={"reference": f"Patient/{patient.id}"},
            effectiveDateTime=f"2024-05-{value + 1:02d}",
            valueQuantity={"value": 60 + value, "unit": "/min"},
        ).save()
    search = fhir.resources("Observation").search(patient=patient.id).limit(5)
    assert search.count() == 12
    everything = search.fetch_all()
    assert len(everything) == 12
    recent = (
        fhir.resources("Observation").search(patient=patient.id, date="ge2024-05-10").fetch_all()
    )
    assert len(recent) == 3
