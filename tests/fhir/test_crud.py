"""Create, read, vread, update, delete, history, headers, conditional updates, listener and
access-policy hooks, through the HTTP API."""

from __future__ import annotations

import hashlib

from careledger.fhir.base import ConsentList, RecordingListener
from careledger.fhir.service import FhirService
from tests.fhir.conftest import BASE, Client, create, observation, patient, policy_client


def test_create_then_read_with_fhir_headers(client: Client) -> None:
    response = client.post(
        "/Patient", json=patient(), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 201
    body = response.json()
    pid = body["id"]
    assert body["meta"]["versionId"] == "1"
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"{BASE}/Patient/{pid}/_history/1"
    assert response.headers["last-modified"].endswith("GMT")

    read = client.get(f"/Patient/{pid}")
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["etag"] == 'W/"1"'


def test_update_versions_and_vread_and_history(client: Client) -> None:
    created = create(client, patient())
    pid = created["id"]
    changed = {**created, "gender": "male"}
    response = client.put(f"/Patient/{pid}", json=changed)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert client.get(f"/Patient/{pid}").json()["gender"] == "male"
    assert client.get(f"/Patient/{pid}/_history/1").json()["gender"] == "female"
    assert client.get(f"/Patient/{pid}/_history/9").status_code == 404

    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert history["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]


def test_type_history_covers_all_resources_and_since(client: Client) -> None:
    first = create(client, patient("Marsh"))
    second = create(client, patient("Tanaka"))
    history = client.get("/Patient/_history").json()
    assert {e["resource"]["id"] for e in history["entry"]} == {first["id"], second["id"]}
    since = second["meta"]["lastUpdated"]
    recent = client.get("/Patient/_history", params={"_since": since}).json()
    assert [e["resource"]["id"] for e in recent["entry"]] == [second["id"]]


def test_update_as_create_with_client_id(client: Client) -> None:
    response = client.put("/Patient/p-42", json={**patient(), "id": "p-42"})
    assert response.status_code == 201
    assert client.get("/Patient/p-42").json()["id"] == "p-42"


def test_update_with_mismatched_id_is_400(client: Client) -> None:
    response = client.put("/Patient/p-1", json={**patient(), "id": "p-2"})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_if_match_conflict_is_412_and_keeps_the_data(client: Client) -> None:
    created = create(client, patient())
    pid = created["id"]
    stale = client.put(
        f"/Patient/{pid}", json={**created, "gender": "male"}, headers={"If-Match": 'W/"7"'}
    )
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    fresh = client.put(
        f"/Patient/{pid}", json={**created, "gender": "male"}, headers={"If-Match": 'W/"1"'}
    )
    assert fresh.status_code == 200
    assert client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 412


def test_delete_gives_410_and_history_keeps_versions(client: Client) -> None:
    pid = create(client, patient())["id"]
    response = client.delete(f"/Patient/{pid}")
    assert response.status_code == 204
    gone = client.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    assert client.get(f"/Patient/{pid}/_history/2").status_code == 410
    assert client.get(f"/Patient/{pid}/_history/1").status_code == 200
    history = client.get(f"/Patient/{pid}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert client.delete(f"/Patient/{pid}").status_code == 204  # idempotent
    assert client.delete("/Patient/never-was").status_code == 204
    again = client.put(f"/Patient/{pid}", json={**patient(), "id": pid})
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "3"


def test_unknown_ids_are_404(client: Client) -> None:
    for url in (
        "/Patient/nope",
        "/Patient/nope/_history",
        "/Patient/nope/_history/1",
        "/Patient/nope/_history/x",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["resourceType"] == "OperationOutcome"


def test_invalid_resource_is_422_with_path_and_not_stored(
    client: Client, listener: RecordingListener
) -> None:
    pid = create(client, patient())["id"]
    events = len(listener.events)
    bad = observation(pid)
    del bad["status"]
    response = client.post("/Observation", json=bad)
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Observation.status"]
    assert issue["code"] == "required"
    typed = observation(pid)
    typed["valueQuantity"]["value"] = "lots"
    nested = client.post("/Observation", json=typed).json()
    assert nested["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
    extra = client.post("/Observation", json={**observation(pid), "colour": "red"}).json()
    assert extra["issue"][0]["expression"] == ["Observation.colour"]
    assert client.get("/Observation").json()["total"] == 0
    assert len(listener.events) == events


def test_listener_gets_hash_of_the_served_bytes_and_labels(
    client: Client, listener: RecordingListener
) -> None:
    pid = create(client, patient())["id"]
    secret = observation(pid, when="2023-01-02")
    secret["meta"] = {
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"},
        ]
    }
    oid = create(client, secret)["id"]
    served = client.get(f"/Observation/{oid}").content
    event = listener.events[-1]
    assert (event.action, event.resource_type, event.id, event.version) == (
        "create",
        "Observation",
        oid,
        1,
    )
    assert event.patient == f"Patient/{pid}"
    assert event.content_hash == hashlib.sha256(served).hexdigest()
    assert event.date == "2023-01-02"
    assert event.sensitivity.confidentiality == "R"
    assert event.sensitivity.categories == ("HIV",)
    client.delete(f"/Observation/{oid}")
    assert listener.events[-1].action == "delete"
    assert listener.events[-1].version == 2


def test_access_policy_decides_for_other_organisations(service: FhirService) -> None:
    consents = ConsentList()
    remote = policy_client(service, consents, "x-test-org")
    try:
        pid = create(remote, patient())["id"]  # own users: no header, no policy
        oid = create(remote, observation(pid))["id"]
        other = {"x-test-org": "org-clinic"}
        assert remote.get(f"/Observation/{oid}", headers=other).status_code == 403
        assert remote.get("/Observation", headers=other).json()["entry"] == []
        consents.granted.add(("org-clinic", f"Patient/{pid}"))
        assert remote.get(f"/Observation/{oid}", headers=other).status_code == 200
        assert len(remote.get("/Observation", headers=other).json()["entry"]) == 1
    finally:
        remote.close()


def test_capability_statement_lists_types_and_params(client: Client) -> None:
    body = client.get("/metadata").json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert {
        "Patient",
        "Encounter",
        "Observation",
        "Condition",
        "Procedure",
        "MedicationRequest",
        "Immunization",
        "AllergyIntolerance",
        "DiagnosticReport",
        "DocumentReference",
        "Coverage",
        "Claim",
        "ExplanationOfBenefit",
    } <= set(types)
    assert {"name": "code", "type": "token"} in types["Observation"]["searchParam"]
    assert "Observation:patient" in types["Observation"]["searchInclude"]


def test_prefer_return_minimal(client: Client) -> None:
    response = client.post("/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"].startswith(f"{BASE}/Patient/")
