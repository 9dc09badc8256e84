"""Fixtures for the FHIR tests: a store in a temp file, the service with a recording listener,
and a synchronous client over httpx's in-memory ASGI transport (one event loop per test)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from careledger.fhir.api import create_app
from careledger.fhir.base import AccessPolicy, RecordingListener
from careledger.fhir.envelope import MasterKey
from careledger.fhir.service import FhirService
from careledger.fhir.sqlite import SQLiteResourceStore

BASE = "http://fhir.test"


class Client:
    """Blocking calls to the ASGI app, for readable tests."""

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()


@pytest.fixture
def master_raw() -> bytes:
    return os.urandom(32)


@pytest.fixture
def master_key(master_raw: bytes) -> MasterKey:
    return MasterKey(master_raw)


@pytest.fixture
def store(tmp_path: Path, master_key: MasterKey) -> Iterator[SQLiteResourceStore]:
    s = SQLiteResourceStore(tmp_path / "fhir.sqlite", master_key)
    yield s
    s.close()


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


@pytest.fixture
def service(store: SQLiteResourceStore, listener: RecordingListener) -> FhirService:
    return FhirService(store, base_url=BASE, listener=listener)


def make_client(service: FhirService, **kwargs: Any) -> Client:
    return Client(create_app(service, **kwargs))


@pytest.fixture
def client(service: FhirService) -> Iterator[Client]:
    c = make_client(service)
    yield c
    c.close()


def policy_client(service: FhirService, policy: AccessPolicy, header: str) -> Client:
    """A client whose requests come from the organisation named in ``header`` (test only)."""
    service.policy = policy
    return make_client(service, requester=lambda request: request.headers.get(header))


def patient(family: str = "Quill", given: str = "Ada", birth: str = "1970-05-06") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:test:mrn", "value": f"MRN-{family}"}],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": birth,
    }


def observation(
    pid: str,
    code: str = "8867-4",
    when: str = "2024-03-05T10:00:00Z",
    value: float = 72,
    system: str = "http://loinc.org",
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "/min"},
    }


def create(client: Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
