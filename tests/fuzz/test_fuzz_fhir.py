"""Fuzzing FHIR JSON: resource bodies (``fhir.resources.validate`` after the API's JSON decoding)
and transaction/batch Bundles (``fhir.bundles.process_bundle`` on a real SQLite store).

Refusals are FHIR errors (``InvalidInput``, ``InvalidResource``, ``ResourceNotFound``…, all
CareLedger errors the API turns into OperationOutcomes); a batch answers per entry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from careledger.fhir.bundles import process_bundle
from careledger.fhir.resources import validate
from careledger.fhir.service import FhirService, decode_json
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from tests.fuzz.harness import budgets, fuzz, inputs, seeds

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=16,
)
RESOURCE_TYPES = ["Patient", "Observation", "Condition", "Bundle", "Encounter", "Nope", ""]


@st.composite
def damaged_json(draw: st.DrawFn, parser: str) -> bytes:
    """A seed document with values replaced at random paths, or deeply nested."""
    doc: Any = json.loads(draw(st.sampled_from(seeds(parser))))
    for _ in range(draw(st.integers(1, 4))):
        node = doc
        for _depth in range(draw(st.integers(0, 3))):
            if isinstance(node, dict) and node:
                child = node[draw(st.sampled_from(sorted(node)))]
            elif isinstance(node, list) and node:
                child = node[draw(st.integers(0, len(node) - 1))]
            else:
                break
            if not isinstance(child, dict | list):
                break
            node = child
        value = draw(json_values | st.sampled_from(RESOURCE_TYPES))
        if isinstance(node, dict):
            node[draw(st.sampled_from([*sorted(node), "resourceType", "id", "extension"]))] = value
        elif isinstance(node, list):
            node.append(value)
    if draw(st.integers(0, 9)) == 0:
        depth = draw(st.integers(100, 3000))
        return b'{"resourceType":"Patient","extension":' + b"[" * depth + b"]" * depth + b"}"
    return json.dumps(doc).encode()


@budgets
def test_resource_body(budget: settings) -> None:
    def parse(raw: bytes) -> object:
        return validate(decode_json(raw))

    fuzz(
        budget,
        "fhir_resource",
        parse,
        inputs("fhir_resource", damaged_json("fhir_resource")),
        regressions=[b"\x80", b'{"resourceType": "Patient", "id": "\xff"}'],  # not UTF-8: a 500
    )


@budgets
def test_bundle(budget: settings, tmp_path: Path) -> None:
    store = SQLiteResourceStore(tmp_path / "fhir.sqlite", MasterKey(os.urandom(32)))
    try:
        service = FhirService(store, base_url="http://127.0.0.1/fhir")

        def process(raw: bytes) -> object:
            return process_bundle(service, decode_json(raw), requester=None)

        fuzz(
            budget,
            "fhir_bundle",
            process,
            inputs("fhir_bundle", damaged_json("fhir_bundle")),
            regressions=[
                b"\x80",
                # request.method a list: an unhashable lookup raised TypeError (a 500)
                b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":[]}}]}',
                b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":{}}}]}',
            ],
        )
    finally:
        store.close()
