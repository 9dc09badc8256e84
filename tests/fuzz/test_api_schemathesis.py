"""Schema fuzzing (schemathesis) of every OpenAPI document a node serves: the node API, the FHIR
API at ``/fhir`` and the wallet API, over real sockets (uvicorn on 127.0.0.1).

Each generated request goes as one of four callers — anonymous, a member of the node's own
organisation, a member of another organisation (signed requests, ``careledger.api.auth``; the
wallet's bearer token) and an outsider whose certificate no consortium root signed. Checks:
no 5xx, no hang (a per-request timeout), every documented response matches its schema; and a
batch of refused requests (anonymous and outsider) leaves the ledger (height, block height,
state root) and the FHIR store as they were.

Fast budget in the default suite; ``pytest -m slow`` runs the long one.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from careledger.api.auth import sign_request
from careledger.api.client import sign_proposal
from careledger.api.codec import b64e
from careledger.contracts.registry import default_registry
from careledger.identity.msp import LocalIdentity, Role
from tests.fuzz.harness import CORPUS, seeds
from tests.fuzz.served import Served, served
from tests.fuzz.test_fuzz_fhir import damaged_json
from tests.harness import impostor, new_consortium

REQUEST_TIMEOUT = 30.0
"""A request not answered in this time is a hang (generous: the machine is shared)."""
CALLERS = ("anonymous", "own-member", "other-org", "outsider")
CHECKS = [not_a_server_error, response_schema_conformance]
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}
FAST = settings(max_examples=int(os.environ.get("CARELEDGER_API_FUZZ_EXAMPLES", "60")), **_COMMON)
SLOW = settings(
    max_examples=int(os.environ.get("CARELEDGER_API_FUZZ_SLOW_EXAMPLES", "1500")), **_COMMON
)
budgets = pytest.mark.parametrize(
    "budget", [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="long", marks=pytest.mark.slow)]
)

#: Requests sent per API and status class in this session (printed in the terminal summary).
SENT: collections.Counter[str] = collections.Counter()


class SignedRequest(requests.auth.AuthBase):
    """Signs every request as ``identity`` (X-CareLedger-* over method, target and body)."""

    def __init__(self, identity: LocalIdentity) -> None:
        self.identity = identity

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        r.headers.update(sign_request(self.identity, r.method or "GET", r.path_url, raw))
        return r


def _sessions(node: Served, api: str) -> dict[str, requests.Session]:
    sessions = {name: requests.Session() for name in CALLERS}
    if api == "wallet":
        sessions["own-member"].headers["Authorization"] = f"Bearer {node.wallet_token}"
        sessions["other-org"].headers["Authorization"] = "Bearer " + "x" * 43
        sessions["outsider"].headers["Authorization"] = "Basic b3V0c2lkZXI6"
        return sessions
    sessions["own-member"].auth = SignedRequest(node.member("Org1", "client0"))
    sessions["other-org"].auth = SignedRequest(node.member("Org2", "client0"))
    sessions["outsider"].auth = SignedRequest(impostor("Org1", "mallory", Role.CLIENT))
    return sessions


def _schema(node: Served, api: str) -> tuple[Any, str]:
    """The API's OpenAPI document (fetched as its own member would) and its base URL."""
    if api == "node":
        base = node.node
        doc = requests.get(f"{base}/openapi.json", timeout=REQUEST_TIMEOUT)
    elif api == "fhir":
        base = f"{node.node}/fhir"
        auth = SignedRequest(node.member("Org1", "client0"))
        doc = requests.get(f"{base}/openapi.json", auth=auth, timeout=REQUEST_TIMEOUT)
    else:
        base = node.wallet
        bearer = {"Authorization": f"Bearer {node.wallet_token}"}
        doc = requests.get(f"{base}/openapi.json", headers=bearer, timeout=REQUEST_TIMEOUT)
    assert doc.status_code == 200, doc.text
    return schemathesis.openapi.from_dict(doc.json()), base


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("fuzzed")
    with served(directory, new_consortium(directory / "consortium")) as running:
        yield running


#: Server-sent event streams: open by design, so only their answer's head is awaited.
STREAMS = frozenset({"/v1/events"})


def _send(case: Any, base: str, session: requests.Session, api: str) -> Any | None:
    """Send ``case``; the response, or None for a stream (checked here: head, no 5xx)."""
    started = time.monotonic()
    try:
        if case.path in STREAMS:  # schemathesis would read the endless body
            kwargs = case.as_transport_kwargs(base_url=base)
            with session.request(**kwargs, stream=True, timeout=REQUEST_TIMEOUT) as streamed:
                SENT[f"{api} {streamed.status_code // 100}xx"] += 1
                assert streamed.status_code < 500, (case.formatted_path, streamed.text[:200])
            return None
        response = case.call(base_url=base, session=session, timeout=REQUEST_TIMEOUT)
    except requests.Timeout:
        pytest.fail(f"{case.method} {case.formatted_path}: no answer in {REQUEST_TIMEOUT} s")
    SENT[f"{api} {response.status_code // 100}xx"] += 1
    took = time.monotonic() - started
    assert took < REQUEST_TIMEOUT, f"{case.method} {case.formatted_path} took {took:.0f} s"
    return response


def _check(case: Any, response: Any) -> None:
    if response is not None:
        case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("api", ["node", "fhir", "wallet"])
@budgets
def test_api_answers_every_caller_without_5xx_and_to_its_schema(
    node: Served, api: str, budget: settings
) -> None:
    schema, base = _schema(node, api)
    sessions = _sessions(node, api)

    @budget
    @given(case=schema.as_strategy(), caller=st.sampled_from(CALLERS))
    def run(case: Any, caller: str) -> None:
        _check(case, _send(case, base, sessions[caller], api))

    run()


def _quiet(node: Served, timeout: float = 60.0) -> tuple[int, int, str, int]:
    """The fingerprint once two reads a second apart agree (FHIR outbox flushed, blocks cut)."""
    deadline = time.monotonic() + timeout
    last = node.fingerprint()
    while True:
        time.sleep(1.0)
        now = node.fingerprint()
        if now == last:
            return now
        assert time.monotonic() < deadline, f"the node did not settle: {last} then {now}"
        last = now


@pytest.mark.parametrize("api", ["node", "fhir"])
@budgets
def test_refused_requests_change_nothing(node: Served, api: str, budget: settings) -> None:
    schema, base = _schema(node, api)
    sessions = _sessions(node, api)
    before = _quiet(node)
    seen: collections.Counter[int] = collections.Counter()

    @budget
    @given(case=schema.as_strategy(), caller=st.sampled_from(["anonymous", "outsider"]))
    def run(case: Any, caller: str) -> None:
        response = _send(case, base, sessions[caller], api)
        _check(case, response)
        if response is not None:
            seen[response.status_code] += 1

    run()
    after = node.fingerprint()
    assert after == before, f"refused requests changed the node: {before} -> {after} ({seen})"
    assert sum(n for code, n in seen.items() if code >= 400) > 0, seen


FHIR_TYPES = ["Patient", "Observation", "Condition", "Encounter", "Unknown"]


@budgets
def test_fhir_bodies_over_http(node: Served, budget: settings) -> None:
    """The FHIR OpenAPI document has no body schemas (any resource type is a path parameter),
    so schemathesis rarely gets past validation: damaged corpus resources and Bundles go to
    ``POST /fhir/<type>``, ``PUT /fhir/<type>/<id>`` and ``POST /fhir`` as the organisation's
    own member and as another organisation's. No 5xx, no hang; errors are OperationOutcomes."""
    sessions = _sessions(node, "fhir")
    base = f"{node.node}/fhir"
    bodies = (
        st.sampled_from(seeds("fhir_resource") + seeds("fhir_bundle"))
        | damaged_json("fhir_resource")
        | damaged_json("fhir_bundle")
        | st.binary(max_size=64)
    )

    @budget
    @given(
        body=bodies,
        target=st.sampled_from(["", "/Patient", "/Observation", "/Patient/p1", "/Bundle"])
        | st.sampled_from(FHIR_TYPES).map(lambda t: f"/{t}"),
        caller=st.sampled_from(["own-member", "other-org"]),
    )
    def run(body: bytes, target: str, caller: str) -> None:
        method = "PUT" if target.count("/") == 2 else "POST"
        headers = {"content-type": "application/fhir+json"}
        try:
            response = sessions[caller].request(
                method, base + target, data=body, headers=headers, timeout=REQUEST_TIMEOUT
            )
        except requests.Timeout:
            pytest.fail(f"{method} /fhir{target}: no answer in {REQUEST_TIMEOUT} s")
        SENT[f"fhir-bodies {response.status_code // 100}xx"] += 1
        assert response.status_code < 500, response.text[:500]
        if response.status_code >= 400:
            assert response.json()["resourceType"] == "OperationOutcome", response.text[:300]

    run()


def test_signed_bundle_posted_to_the_fhir_base(node: Served) -> None:
    """Regression (found by fuzzing): ``POST [base]`` without a trailing slash was redirected
    (307) to ``/fhir/``, where the re-sent request's signature no longer matched: 401."""
    bundle = (CORPUS / "fhir_bundle" / "batch.json").read_bytes()
    session = _sessions(node, "fhir")["own-member"]
    headers = {"content-type": "application/fhir+json"}
    response = session.post(
        f"{node.node}/fhir",
        data=bundle,
        headers=headers,
        timeout=REQUEST_TIMEOUT,
        allow_redirects=False,
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json()["type"] == "batch-response"


def _functions() -> list[tuple[str, str, int]]:
    """(contract, function, parameter count) of every installed contract function."""
    registry = default_registry()
    return [
        (name, fn, len(spec.params))
        for name, version in registry.installed()
        for fn, spec in registry.get(name, version).functions.items()
    ]


arg_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | st.sampled_from(["Org1", "Org2", "did:key:z6Mk", "Patient/p1", "x" * 300, ""]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def hostile_calls(draw: st.DrawFn) -> tuple[str, str, list[Any]]:
    """A contract function with arguments of any shape (often the right count)."""
    contract, function, count = draw(st.sampled_from(_functions()))
    if draw(st.integers(0, 9)) == 0:
        contract = draw(st.sampled_from(["nope", "_gov", ""]) | st.text(max_size=10))
    if draw(st.integers(0, 9)) == 0:
        function = draw(st.text(max_size=12))
    size = count if draw(st.booleans()) else draw(st.integers(0, count + 2))
    return contract, function, draw(st.lists(arg_values, min_size=size, max_size=size))


@budgets
def test_signed_proposals_with_hostile_arguments(node: Served, budget: settings) -> None:
    """Properly signed proposals (which schemathesis cannot make) of every installed contract
    function with arguments of any shape, evaluated and submitted by members of both
    organisations: invalid is an answer (4xx or a refused validation code), never a 5xx."""

    @budget
    @given(call=hostile_calls(), route=st.sampled_from(["evaluate", "submit", "endorse"]),
           org=st.sampled_from(["Org1", "Org2"]))  # fmt: skip
    @example(  # a well-formed call, so the path to a commit is known to work
        call=("_gov", "propose", ["contract", {"name": "tokens", "version": "1.0",
                                               "policy": "MAJORITY"}]),
        route="submit",
        org="Org1",
    )  # fmt: skip
    def run(call: tuple[str, str, list[Any]], route: str, org: str) -> None:
        proposal, signature = sign_proposal(node.member(org, "admin"), *call)
        body = {"proposal": b64e(proposal), "signature": b64e(signature)}
        try:
            response = requests.post(f"{node.node}/v1/{route}", json=body, timeout=REQUEST_TIMEOUT)
        except requests.Timeout:
            pytest.fail(f"{route} {call[:2]}: no answer in {REQUEST_TIMEOUT} s")
        SENT[f"signed-{route} {response.status_code // 100}xx"] += 1
        assert response.status_code < 500, (route, call, response.text[:500])

    run()
