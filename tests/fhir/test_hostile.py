"""Hostile or malformed requests get a clean 4xx OperationOutcome and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from careledger.fhir.service import FhirService
from tests.fhir.conftest import Client, make_client, patient


def _outcome(response: object, status: int) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/fhir+json")  # type: ignore[attr-defined]
    assert response.json()["resourceType"] == "OperationOutcome"  # type: ignore[attr-defined]


def test_huge_body_is_413_before_it_is_read(service: FhirService) -> None:
    client = make_client(service, max_body_bytes=10_000)
    try:
        big = {**patient(), "name": [{"family": "x" * 20_000}]}
        _outcome(client.post("/Patient", json=big), 413)

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in (b'{"resourceType": "Patient", "id": "', b"y" * 20_000, b'"}'):
                yield chunk

        _outcome(client.post("/Patient", content=chunks()), 413)  # chunked, no length
        assert client.get("/Patient").json()["total"] == 0
    finally:
        client.close()


def test_deeply_nested_json_is_400(client: Client) -> None:
    deep = '{"resourceType":"Patient","extension":' + "[" * 50_000 + "]" * 50_000 + "}"
    _outcome(client.post("/Patient", content=deep), 400)
    nested = '{"resourceType":"Patient","extension":[' + '{"extension":[' * 600 + "]}" * 600 + "]}"
    response = client.post("/Patient", content=nested)
    assert response.status_code in (400, 422)
    assert client.get("/Patient").json()["total"] == 0


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[]", b"42", b'"Patient"'])
def test_bad_json_is_400(client: Client, body: bytes) -> None:
    _outcome(client.post("/Patient", content=body), 400)


def test_unknown_resource_type_is_404(client: Client) -> None:
    _outcome(client.get("/Spaceship"), 404)
    _outcome(client.post("/Spaceship", json={"resourceType": "Spaceship"}), 404)
    _outcome(client.get("/Spaceship/1"), 404)
    _outcome(client.get("/Bundle"), 404)


def test_type_mismatch_and_bad_ids(client: Client) -> None:
    _outcome(client.post("/Patient", json={"resourceType": "Observation"}), 400)
    _outcome(client.post("/Patient", json={"status": "final"}), 400)
    _outcome(client.get("/Patient/" + "x" * 65), 400)
    _outcome(client.get("/Patient/bad$id"), 400)
    _outcome(client.put("/Patient/a", json={**patient(), "id": "a" * 70}), 422)


def test_wrong_media_type_and_method(client: Client) -> None:
    xml = client.post(
        "/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
    )
    _outcome(xml, 415)
    _outcome(client.request("PATCH", "/Patient/x", json={}), 405)
    _outcome(client.put("/Patient/x", json=patient(), headers={"If-Match": "banana"}), 400)
    _outcome(client.post("/Patient/_search", content=b"family=x"), 415)


def test_ids_in_urls_cannot_reach_other_rows(client: Client) -> None:
    for url in ("/Patient/1%27%20OR%201=1", "/Patient/..%2F..%2Fetc", "/Patient/_history/1"):
        response = client.get(url)
        assert 400 <= response.status_code < 500, url
