"""Stateful API fuzzing: random sequences of FHIR interactions on one node over HTTP (create,
read, update — valid and damaged bodies —, delete, history, search), as the organisation's own
member and, read-only, as another organisation's. A model of what exists checks each answer:
no 5xx; a live resource reads 200 at the version the model expects; a deleted one 410; an
update after delete re-creates it. The OpenAPI documents declare no links, so schemathesis'
own state machine has nothing to chain: this is the stateful fuzzer where it helps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from tests.fuzz.harness import seeds
from tests.fuzz.served import Served, served
from tests.fuzz.test_api_schemathesis import REQUEST_TIMEOUT, SENT, _sessions, budgets
from tests.fuzz.test_fuzz_fhir import damaged_json
from tests.harness import new_consortium

PATIENT: dict[str, Any] = json.loads(seeds("fhir_resource")[1])
FHIR_JSON = {"content-type": "application/fhir+json"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("stateful")
    with served(directory, new_consortium(directory / "consortium")) as running:
        yield running


def machine(node: Served) -> type[RuleBasedStateMachine]:
    sessions = _sessions(node, "fhir")
    own, other = sessions["own-member"], sessions["other-org"]
    base = f"{node.node}/fhir"

    class FhirSequences(RuleBasedStateMachine):
        patients = Bundle("patients")

        def __init__(self) -> None:
            super().__init__()
            self.versions: dict[str, int] = {}  # id -> versions so far (a delete is one)
            self.deleted: set[str] = set()

        def call(self, session: requests.Session, method: str, path: str, body: Any = None) -> Any:
            data = None if body is None else body if isinstance(body, bytes) else json.dumps(body)
            response = session.request(
                method, base + path, data=data, headers=FHIR_JSON, timeout=REQUEST_TIMEOUT
            )
            SENT[f"fhir-stateful {response.status_code // 100}xx"] += 1
            assert response.status_code < 500, (method, path, response.text[:300])
            return response

        @rule(target=patients, family=st.text(min_size=1, max_size=12))
        def create(self, family: str) -> str:
            body = {k: v for k, v in PATIENT.items() if k != "id"} | {"name": [{"family": family}]}
            made = self.call(own, "POST", "/Patient", body)
            if made.status_code == 422:  # a family name FHIR refuses (e.g. only spaces)
                return "never-created"
            assert made.status_code == 201, made.text[:300]
            rid: str = made.json()["id"]
            self.versions[rid] = 1
            return rid

        def written(self, rid: str, response: Any) -> None:
            self.versions[rid] = self.versions.get(rid, 0) + 1
            self.deleted.discard(rid)
            assert response.json()["meta"]["versionId"] == str(self.versions[rid])

        @rule(rid=patients)
        def read(self, rid: str) -> None:
            got = self.call(own, "GET", f"/Patient/{rid}")
            if rid not in self.versions:
                assert got.status_code == 404, got.text[:300]
            elif rid in self.deleted:
                assert got.status_code == 410, got.text[:300]
            else:
                assert got.status_code == 200, got.text[:300]
                assert got.json()["meta"]["versionId"] == str(self.versions[rid])

        @rule(rid=patients, family=st.text(min_size=1, max_size=12))
        def update(self, rid: str, family: str) -> None:
            body = PATIENT | {"id": rid, "name": [{"family": family}]}
            put = self.call(own, "PUT", f"/Patient/{rid}", body)
            if put.status_code in (200, 201):  # 201: an update that creates (a new id)
                self.written(rid, put)
            else:
                assert put.status_code in (400, 409, 412, 422), put.text[:300]

        @rule(rid=patients, body=damaged_json("fhir_resource"))
        def damaged_update(self, rid: str, body: bytes) -> None:
            put = self.call(own, "PUT", f"/Patient/{rid}", body)
            if put.status_code in (200, 201):  # the damage left a valid Patient with this id
                self.written(rid, put)

        @rule(rid=patients)
        def delete(self, rid: str) -> None:
            gone = self.call(own, "DELETE", f"/Patient/{rid}")
            assert gone.status_code in (200, 204), gone.text[:300]
            if rid in self.versions and rid not in self.deleted:  # deleting twice: no version
                self.versions[rid] += 1
                self.deleted.add(rid)

        @rule(rid=patients)
        def history(self, rid: str) -> None:
            self.call(own, "GET", f"/Patient/{rid}/_history")

        @rule(rid=patients)
        def other_org_reads_and_cannot_write(self, rid: str) -> None:
            self.call(other, "GET", f"/Patient/{rid}")
            refused = self.call(other, "DELETE", f"/Patient/{rid}")
            assert refused.status_code == 403, refused.text[:300]

        @rule(family=st.text(max_size=12))
        def search(self, family: str) -> None:
            self.call(own, "GET", "/Patient", None)
            self.call(own, "POST", "/Patient/_search", None)
            del family

    return FhirSequences


@budgets
def test_fhir_interaction_sequences(node: Served, budget: settings) -> None:
    steps = settings(budget, max_examples=max(5, budget.max_examples // 5), stateful_step_count=15)
    run_state_machine_as_test(machine(node), settings=steps)
