"""Search: every parameter kind, date prefixes, paging by next links, _include, and parameters
that are unknown or malformed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fhir.conftest import BASE, Client, create, observation, patient


def _ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    }


def _search(client: Client, rtype: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/{rtype}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == "searchset"
    return body


@pytest.fixture
def people(client: Client) -> dict[str, str]:
    ada = create(client, patient("Quill", "Ada", "1970-05-06"))["id"]
    bo = create(client, patient("Marsh", "Bo", "1985-11-30"))["id"]
    return {"ada": ada, "bo": bo}


def test_reference_parameters(client: Client, people: dict[str, str]) -> None:
    a = create(client, observation(people["ada"]))["id"]
    b = create(client, observation(people["bo"]))["id"]
    assert _ids(_search(client, "Observation", patient=people["ada"])) == {a}
    assert _ids(_search(client, "Observation", patient=f"Patient/{people['bo']}")) == {b}
    assert _ids(_search(client, "Observation", subject=f"Patient/{people['ada']}")) == {a}
    assert _ids(_search(client, "Observation", subject=f"{BASE}/Patient/{people['ada']}")) == {a}
    both = _search(client, "Observation", patient=f"{people['ada']},{people['bo']}")
    assert _ids(both) == {a, b}
    assert client.get("/Observation", params={"subject": "bare-id"}).status_code == 400


def test_token_parameters(client: Client, people: dict[str, str]) -> None:
    hr = create(client, observation(people["ada"], code="8867-4"))["id"]
    local = create(client, observation(people["ada"], code="8867-4", system="urn:local"))["id"]
    create(client, observation(people["ada"], code="29463-7"))
    assert _ids(_search(client, "Observation", code="http://loinc.org|8867-4")) == {hr}
    assert _ids(_search(client, "Observation", code="8867-4")) == {hr, local}
    assert _ids(_search(client, "Observation", code="urn:local|")) == {local}
    assert _ids(_search(client, "Observation", code="|8867-4")) == set()
    assert (
        _search(client, "Observation", code="http://loinc.org|8867-4,urn:local|8867-4")["total"]
        == 2
    )
    assert _ids(_search(client, "Patient", gender="female")) == set(people.values())
    assert _ids(_search(client, "Patient", identifier="urn:test:mrn|MRN-Quill")) == {people["ada"]}


def test_string_parameters(client: Client, people: dict[str, str]) -> None:
    assert _ids(_search(client, "Patient", family="qui")) == {people["ada"]}
    assert _ids(_search(client, "Patient", name="BO")) == {people["bo"]}
    assert _ids(_search(client, "Patient", **{"family:exact": "Quill"})) == {people["ada"]}
    assert _ids(_search(client, "Patient", **{"family:exact": "quill"})) == set()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2024-03-05", {"mid"}),
        ("eq2024-03", {"mid", "late"}),
        ("ne2024-03", {"early"}),
        ("lt2024-03-05", {"early"}),
        ("le2024-03-05", {"early", "mid"}),
        ("gt2024-03-05", {"late"}),
        ("ge2024-03-05", {"mid", "late"}),
        ("sa2024-03-05", {"late"}),
        ("eb2024-03-05", {"early"}),
        ("ge2024-03-05T12:00:00+02:00", {"mid", "late"}),
        ("2024", {"early", "mid", "late"}),
    ],
)
def test_date_prefixes(
    client: Client, people: dict[str, str], query: str, expected: set[str]
) -> None:
    names = {}
    for name, when in (
        ("early", "2024-01-15"),
        ("mid", "2024-03-05T10:00:00Z"),
        ("late", "2024-03-20T08:30:00+01:00"),
    ):
        names[create(client, observation(people["ada"], when=when))["id"]] = name
    found = _ids(_search(client, "Observation", date=query))
    assert {names[i] for i in found} == expected


def test_date_ranges_and_periods(client: Client, people: dict[str, str]) -> None:
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{people['ada']}"},
        "period": {"start": "2024-02-01T09:00:00Z", "end": "2024-02-03T09:00:00Z"},
    }
    eid = create(client, enc)["id"]
    assert _ids(_search(client, "Encounter", date="2024-02-02")) == set()  # not contained
    assert _ids(_search(client, "Encounter", date="ge2024-02-02")) == {eid}  # overlaps
    assert _ids(_search(client, "Encounter", date=["ge2024-02-01", "le2024-02-28"])) == {eid}
    assert _ids(_search(client, "Encounter", date=["ge2024-03-01", "le2024-03-28"])) == set()
    assert _ids(_search(client, "Patient", birthdate="lt1980")) == {people["ada"]}


def test_id_and_last_updated(client: Client, people: dict[str, str]) -> None:
    assert _ids(_search(client, "Patient", _id=people["bo"])) == {people["bo"]}
    assert _ids(_search(client, "Patient", _id=f"{people['bo']},{people['ada']}")) == set(
        people.values()
    )
    later = create(client, patient("Tanaka"))
    stamp = later["meta"]["lastUpdated"]
    assert _ids(_search(client, "Patient", _lastUpdated=f"ge{stamp}")) == {later["id"]}
    assert _ids(_search(client, "Patient", _lastUpdated=f"lt{stamp}")) == set(people.values())
    assert _search(client, "Patient", _lastUpdated="gt2999-01-01")["total"] == 0


def test_paging_by_next_links(client: Client, people: dict[str, str]) -> None:
    made = {create(client, observation(people["ada"], value=i))["id"] for i in range(23)}
    page = _search(client, "Observation", patient=people["ada"], _count=5)
    assert page["total"] == 23
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += [e["resource"]["id"] for e in page["entry"]]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        assert nxt[0].startswith(f"{BASE}/Observation?")
        parts = urlsplit(nxt[0])
        page = client.get(f"{parts.path}?{parts.query}").json()
    assert pages == 5
    assert len(seen) == 23
    assert set(seen) == made
    assert _search(client, "Observation", _count=0)["entry"] == []


def test_include_adds_referenced_resources(client: Client, people: dict[str, str]) -> None:
    for pid in people.values():
        create(client, observation(pid))
    bundle = _search(client, "Observation", _include="Observation:patient")
    assert _ids(bundle, "include") == set(people.values())
    assert len(_ids(bundle, "match")) == 2
    only = _search(client, "Observation", _include="Observation:subject:Encounter")
    assert _ids(only, "include") == set()
    assert client.get("/Observation", params={"_include": "Patient:link"}).status_code == 400


def test_unknown_underscore_parameters_are_ignored_and_reported(
    client: Client, people: dict[str, str]
) -> None:
    bundle = _search(
        client, "Patient", _sort="-birthdate", _summary="true", _revinclude="x:y", _format="json"
    )
    assert bundle["total"] == 2
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "_sort" in outcome[0]["resource"]["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "params",
    [
        {"colour": "red"},
        {"code:text": "x"},
        {"date": "2024-13-01"},
        {"date": "xx2024"},
        {"_count": "-1"},
        {"_count": "many"},
        {"_id": "bad id!"},
    ],
)
def test_bad_parameters_are_400(client: Client, params: dict[str, str]) -> None:
    response = client.get("/Observation", params=params)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_search_by_post(client: Client, people: dict[str, str]) -> None:
    response = client.post("/Patient/_search", data={"family": "marsh"})
    assert response.status_code == 200
    assert _ids(response.json()) == {people["bo"]}


def test_every_type_searches_by_patient(client: Client) -> None:
    from careledger.sim.synthetic_fhir import generate, transaction_bundle

    resources = generate(1, seed=3)
    assert client.post("/", json=transaction_bundle(resources)).status_code == 200
    pid = resources[0]["id"]
    for rtype in {r["resourceType"] for r in resources} - {"Patient"}:
        bundle = _search(client, rtype, patient=pid, _count=100)
        expected = {r["id"] for r in resources if r["resourceType"] == rtype}
        assert _ids(bundle) == expected, rtype
