"""Transaction Bundles are atomic and rewrite urn:uuid references; batch Bundles report each
entry; the committed sample fixtures load."""

from __future__ import annotations

from typing import Any

from careledger.fhir.base import RecordingListener
from careledger.sim.synthetic_fhir import sample_bundles
from tests.fhir.conftest import Client, create, observation, patient

PATIENT_URN = "urn:uuid:0c3c9d5e-6f42-4d0e-9a0b-1f8f1d2c3b4a"


def _entry(
    resource: dict[str, Any],
    method: str = "POST",
    url: str | None = None,
    full_url: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": method, "url": url or resource["resourceType"]},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_transaction_rewrites_urn_uuid_references(
    client: Client, listener: RecordingListener
) -> None:
    obs = observation("x")
    obs["subject"] = {"reference": PATIENT_URN}
    response = client.post(
        "/", json=_transaction(_entry(obs), _entry(patient(), full_url=PATIENT_URN))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    pid = body["entry"][1]["resource"]["id"]
    stored = client.get(body["entry"][0]["response"]["location"].split("fhir.test")[1]).json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"
    assert len(listener.events) == 2
    assert {e.patient for e in listener.events} == {f"Patient/{pid}"}


def test_transaction_with_one_invalid_entry_stores_nothing(
    client: Client, listener: RecordingListener
) -> None:
    bad = observation("x")
    del bad["status"]
    response = client.post(
        "/",
        json=_transaction(
            _entry(patient(), full_url=PATIENT_URN), _entry(bad), _entry(observation("y"))
        ),
    )
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.status"]
    assert client.get("/Patient").json()["total"] == 0
    assert client.get("/Observation").json()["total"] == 0
    assert listener.events == []


def test_transaction_version_conflict_stores_nothing(client: Client) -> None:
    existing = create(client, patient("Marsh"))
    pid = existing["id"]
    response = client.post(
        "/",
        json=_transaction(
            _entry(patient("Quill")),
            {
                **_entry({**existing, "gender": "male"}, "PUT", f"Patient/{pid}"),
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"5"'},
            },
        ),
    )
    assert response.status_code == 412
    assert client.get("/Patient").json()["total"] == 1
    assert client.get(f"/Patient/{pid}").json()["gender"] == "female"


def test_transaction_put_delete_and_get(client: Client) -> None:
    keep = create(client, patient("Marsh"))
    drop = create(client, patient("Tanaka"))
    response = client.post(
        "/",
        json=_transaction(
            {"request": {"method": "GET", "url": f"Patient/{keep['id']}"}},
            _entry({**keep, "gender": "male"}, "PUT", f"Patient/{keep['id']}"),
            {"request": {"method": "DELETE", "url": f"Patient/{drop['id']}"}},
            {"request": {"method": "GET", "url": "Patient?family=marsh"}},
        ),
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == [
        "200 OK",
        "200 OK",
        "204 No Content",
        "200 OK",
    ]
    assert entries[0]["resource"]["gender"] == "male"  # reads run after the writes
    assert entries[3]["resource"]["total"] == 1
    assert client.get(f"/Patient/{drop['id']}").status_code == 410


def test_transaction_touching_a_resource_twice_is_400(client: Client) -> None:
    p = {**patient(), "id": "twice"}
    response = client.post(
        "/", json=_transaction(_entry(p, "PUT", "Patient/twice"), _entry(p, "PUT", "Patient/twice"))
    )
    assert response.status_code == 400
    assert client.get("/Patient").json()["total"] == 0


def test_batch_is_partially_successful(client: Client) -> None:
    bad = observation("x")
    del bad["status"]
    response = client.post(
        "/",
        json=_transaction(
            _entry(patient()),
            _entry(bad),
            {"request": {"method": "GET", "url": "Patient/missing"}},
            _entry({"resourceType": "Nonsense"}, "POST", "Nonsense"),
            kind="batch",
        ),
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "422", "404", "422"]
    outcome = entries[1]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[1].resource.status"]
    assert client.get("/Patient").json()["total"] == 1


def test_bad_bundles_are_400(client: Client) -> None:
    assert client.post("/", json=patient()).status_code == 400
    assert (
        client.post("/", json={"resourceType": "Bundle", "type": "collection"}).status_code == 400
    )
    no_request = client.post("/", json=_transaction({"resource": patient()}))
    assert no_request.status_code == 400
    conditional = client.post("/", json=_transaction(_entry(patient(), "PUT", "Patient?x=1")))
    assert conditional.status_code == 400
    huge = client.post(
        "/", json=_transaction(*[{"request": {"method": "GET", "url": "Patient"}}] * 1001)
    )
    assert huge.status_code == 400


def test_sample_fixtures_load_for_every_holder(client: Client) -> None:
    samples = sample_bundles()
    assert set(samples) == {"org-hospital", "org-clinic", "org-lab", "org-payer"}
    bundle = samples["org-hospital"]
    response = client.post("/", json=bundle)
    assert response.status_code == 200, response.text
    assert all(e["response"]["status"].startswith("201") for e in response.json()["entry"])
    encounters = client.get("/Encounter").json()
    providers = {e["resource"]["serviceProvider"]["reference"] for e in encounters["entry"]}
    assert providers == {"Organization/org-hospital"}
