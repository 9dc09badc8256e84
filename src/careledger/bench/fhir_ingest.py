"""Ingest benchmark: resources per second for validate + encrypt + store.

``run_ingest(n)`` loads ``n`` synthetic resources as transaction Bundles (``batch`` resources
each) through :func:`careledger.fhir.bundles.process_bundle` into a fresh SQLite store in a
temporary directory, and times that alone (generating the data is not timed). It also times
validation alone on the same data, for comparison. It prints nothing. The record locator
transaction is not part of this yet.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from careledger.fhir.bundles import process_bundle
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.sim.synthetic_fhir import generate, transaction_bundle


def run_ingest(n: int, *, batch: int = 200, seed: int = 7) -> dict[str, Any]:
    """Ingest ``n`` resources; returns counts, seconds and rates (resources/s)."""
    if n < 1 or batch < 1:
        raise ValueError("n and batch must be positive")
    resources: list[dict[str, Any]] = []
    patients = 0
    while len(resources) < n:
        patients += max(1, (n - len(resources)) // 40 + 1)
        resources = generate(patients, seed)
    resources = resources[:n]
    validation_copy = copy.deepcopy(resources)

    started = time.perf_counter()
    for resource in validation_copy:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    validate_seconds = time.perf_counter() - started

    bundles = [transaction_bundle(resources[i : i + batch]) for i in range(0, n, batch)]
    with tempfile.TemporaryDirectory(prefix="careledger-fhir-bench-") as tmp:
        store = SQLiteResourceStore(Path(tmp) / "fhir.sqlite", MasterKey.generate())
        try:
            service = FhirService(store, base_url="http://bench.invalid/fhir")
            started = time.perf_counter()
            for bundle in bundles:
                process_bundle(service, bundle)
            ingest_seconds = time.perf_counter() - started
        finally:
            store.close()
    return {
        "resources": n,
        "batch": batch,
        "seconds": round(ingest_seconds, 3),
        "resources_per_second": round(n / ingest_seconds, 1),
        "validate_only_per_second": round(n / validate_seconds, 1),
        "validate_share": round(validate_seconds / ingest_seconds, 3),
    }
