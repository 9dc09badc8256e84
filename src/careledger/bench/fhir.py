"""``careledger bench fhir``: FHIR ingest with record-locator transactions, and ``$everything``
latency across providers, on an embedded consortium.

The baseline measured in the same run is the store alone (validate, encrypt, store, no ledger);
the headline is ingest with the locator transaction committed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from careledger.bench.network import _cpu_seconds
from careledger.bench.report import BenchReport, percentile
from careledger.fhir.bundles import process_bundle
from careledger.fhir.validation_pool import ValidationPool
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.sim.demo_fhir import (
    SyntheticPatient,
    approve_contracts,
    close_providers,
    open_providers,
    settle,
)
from careledger.sim.synthetic_fhir import generate, transaction_bundle


def bench_records(resources: int, providers: int, seed: int = 5) -> tuple[str, list[list[Any]]]:
    """About ``resources`` synthetic resources of ONE patient spread over ``providers`` holders
    (each also holds the Patient); returns the patient reference and each holder's resources."""
    patients = max(1, resources // 40 + 1)
    data = generate(patients, seed)
    first = next(r for r in data if r["resourceType"] == "Patient")
    ref = f"Patient/{first['id']}"
    text = re.sub(r'"Patient/pat-\d+"', f'"{ref}"', json.dumps(data))
    others = [r for r in json.loads(text) if r["resourceType"] != "Patient"][: resources - 1]
    held: list[list[Any]] = [[copy.deepcopy(first)] for _ in range(providers)]
    for i, resource in enumerate(others):
        held[i % providers].append(resource)
    return ref, held


def _warm_up(held: list[list[Any]]) -> None:
    """Validate one resource of each type first: the models' lazy imports are not ingest."""
    from careledger.fhir.resources import validate

    seen: dict[str, Any] = {}
    for items in held:
        for resource in items:
            seen.setdefault(resource["resourceType"], resource)
    for resource in seen.values():
        validate(copy.deepcopy(resource))


def _pool_cpu(pool: ValidationPool | None) -> float:
    """CPU seconds of the pool's workers so far (0 without a pool or off Linux)."""
    if pool is None:
        return 0.0
    return sum(_cpu_seconds(pid) or 0.0 for pid in pool.pids())


def holder_plus_one(orgs: list[str]) -> str:
    """``2 OF (all)``: the submitting gateway endorses on its own organisation's peer first, so
    this is the holder plus one other organisation. Enough for the locator: the contract
    indexes only the creator's own organisation's resources (validation checks the creator's
    signature and membership), the entries are salted hashes only the holder can make, and a
    second organisation re-running the deterministic contract is what catches a peer lying
    about the simulation; a third adds no check the second does not make
    (docs/interoperability.md)."""
    return f"2 OF ({', '.join(orgs)})"


async def run_fhir_bench(
    *,
    resources: int = 1000,
    providers: int = 5,
    requests: int = 50,
    batch: int = 200,
    locator_policy: str | None = None,
    validation_workers: int = 0,
) -> dict[str, Any]:
    """Ingest (validate + encrypt + store + locator transaction, one per Bundle) and
    ``$everything`` latency, on an embedded consortium of ``providers`` organisations.
    ``locator_policy``: the locator contract's endorsement policy; default
    :func:`holder_plus_one` (the other contracts: MAJORITY). ``validation_workers``: Bundles
    are validated in a pool of that many processes (0: in the request's thread)."""
    orgs = [f"Provider{i + 1}" for i in range(providers)]
    policy = holder_plus_one(orgs) if locator_policy is None else locator_policy
    with tempfile.TemporaryDirectory(prefix="careledger-bench-fhir-") as tmp:
        init_consortium(Path(tmp) / "net", orgs, name="bench-fhir")
        net = EmbeddedNetwork.open(Path(tmp) / "net")
        pool = ValidationPool(validation_workers) if validation_workers else None
        await net.start()
        try:
            await approve_contracts(net, ("locator",), policy)
            await approve_contracts(net)
            if pool is not None:
                await asyncio.to_thread(pool.warm_up)
            cast = open_providers(net, orgs, Path(tmp), validation=pool)
            local, held = bench_records(resources, providers)
            patient = SyntheticPatient()
            await patient.anchor(net, orgs[0])
            for provider in cast.values():
                await patient.register_with(provider, local)
            bundles = [
                (cast[org], transaction_bundle(items[i : i + batch]))
                for org, items in zip(orgs, held, strict=True)
                for i in range(0, len(items), batch)
            ]
            total = sum(len(items) for items in held)
            _warm_up(held)
            cpu0 = time.process_time(), _pool_cpu(pool)
            started = time.perf_counter()
            for provider, bundle in bundles:
                await asyncio.to_thread(process_bundle, provider.service, bundle)
            stored = time.perf_counter() - started
            for provider in cast.values():
                await provider.ledger.flush()
            ingest = time.perf_counter() - started
            cpu = time.process_time() - cpu0[0]
            pool_cpu = _pool_cpu(pool) - cpu0[1]
            await patient.grant(net, orgs[0], orgs[0])
            await settle(net)
            requester = cast[orgs[0]]
            path = f"/{local}/$everything?_count=1000"
            first = (await requester.get(path)).json()
            latencies = []
            for _ in range(requests):
                began = time.perf_counter()
                response = await requester.get(path)
                latencies.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200
            await close_providers(cast)
        finally:
            if pool is not None:
                pool.close()
            await net.stop()
    return {
        "providers": providers,
        "locator_policy": policy,
        "validation_workers": validation_workers,
        "resources": total,
        "bundles": len(bundles),
        "ingest_seconds": round(ingest, 3),
        "ingest_resources_per_s": round(total / ingest, 1),
        "store_only_resources_per_s": round(total / stored, 1),
        "ingest_cpu_ms_per_resource": round(cpu * 1000 / total, 3),
        "validation_workers_cpu_ms_per_resource": round(pool_cpu * 1000 / total, 3),
        "everything_resources": first["total"],
        "everything_requests": requests,
        "everything_p50_ms": round(percentile(latencies, 0.5), 1),
        "everything_p95_ms": round(percentile(latencies, 0.95), 1),
        "everything_max_ms": round(max(latencies), 1),
    }


def fhir_report(figures: dict[str, Any]) -> BenchReport:
    return BenchReport(
        "careledger bench fhir (embedded consortium)",
        figures,
        "ingest_resources_per_s",
        "store_only_resources_per_s",
    )
