"""Fixtures for the FHIR tests: a store, the service with a recording listener, and a synchronous
client over httpx's in-memory ASGI transport (one event loop per test).

``store`` is parametrized: every test using it (or ``service``, ``client``) runs once on SQLite
in a temp file and once on PostgreSQL, in a fresh schema of a throwaway server started once per
session (:mod:`careledger.netctl.pgserver`; ``CARELEDGER_TEST_PG_DSN`` uses an existing one).
The PostgreSQL cases skip when there are no server binaries, unless
``CARELEDGER_TEST_PG_REQUIRED=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from careledger.fhir.api import create_app
from careledger.fhir.base import AccessPolicy, RecordingListener, ResourceStore
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore

BASE = "http://fhir.test"
STORE_KINDS = ["sqlite", "postgres"]
# Tests that inspect SQLite's own file and rows; test_postgres_store.py has their counterparts.
SQLITE_ONLY = {"test_raw_rows_cannot_be_decrypted_with_the_remaining_keys"}


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


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def pg_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema name, dropped after the test (the server may be shared)."""
    import psycopg

    schema = f"fhir_test_{uuid.uuid4().hex[:16]}"
    yield schema
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- stores -------------------------------------------------------------------------------------


@pytest.fixture(params=STORE_KINDS)
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, master_key: MasterKey
) -> Iterator[Callable[..., ResourceStore]]:
    """Opens the test's store again on each call (``master_key=`` another key); every store
    opened is closed after the test."""
    kind: str = request.param
    if kind != "sqlite" and request.node.originalname in SQLITE_ONLY:
        pytest.skip("inspects SQLite's file; see test_postgres_store.py for PostgreSQL")
    opened: list[ResourceStore] = []
    if kind == "sqlite":

        def make(key: MasterKey) -> ResourceStore:
            return SQLiteResourceStore(tmp_path / "fhir.sqlite", key)

    else:
        from careledger.fhir.store.postgres import PostgresResourceStore

        dsn: str = request.getfixturevalue("postgres_dsn")
        schema: str = request.getfixturevalue("pg_schema")

        def make(key: MasterKey) -> ResourceStore:
            return PostgresResourceStore(dsn, key, schema=schema)

    def opener(master_key: MasterKey = master_key) -> ResourceStore:
        opened.append(make(master_key))
        return opened[-1]

    yield opener
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: Callable[..., ResourceStore]) -> ResourceStore:
    return open_store()


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


@pytest.fixture
def service(store: ResourceStore, listener: RecordingListener) -> FhirService:
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
