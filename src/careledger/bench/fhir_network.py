"""``careledger bench fhir --network DIR``: FHIR ingest with the locator transactions endorsed,
ordered and committed by a running ``network up`` consortium.

The bench process is each organisation's FHIR front end (store, outbox, ledger listener, as a
node with ``[fhir]`` runs them); its :class:`~careledger.longitudinal.ledger.ProviderLedger`
submits through the organisation's node over HTTP as the member ``client0`` (signed requests,
the network's TLS), so endorsement (the network's majority policy: the holder plus one other
organisation on three), ordering and the commits happen in the node processes, not under this
interpreter's lock. One provider per organisation; the patient is linked in each provider's
directory directly (no DID anchoring: the locator takes a handle, and enrolment's signature
check is not what is measured). Timed as the embedded bench: every Bundle stored, then until
every locator transaction has committed at the submitting node. The same-run baseline is the
store alone (the time until the last Bundle was stored).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from careledger.api.client import NodeClient
from careledger.bench.fhir import _pool_cpu, _warm_up, bench_records
from careledger.bench.network import _pid_names, _process_cpu, approve_contract, running_network
from careledger.bench.report import BenchReport
from careledger.contracts.record_locator import patient_handle
from careledger.errors import CareLedgerError
from careledger.fhir.bundles import process_bundle
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.fhir.validation_pool import ValidationPool
from careledger.identity.did.keys import Ed25519Signer
from careledger.longitudinal.ledger import PatientLink, ProviderLedger
from careledger.sim.synthetic_fhir import transaction_bundle


class NodeLedgerGateway:
    """A member's :class:`NodeClient` in the shape of
    :class:`~careledger.longitudinal.session.LedgerGateway`: submissions and queries go to the
    node over HTTP."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client
        self.identity = client.identity

    @property
    def peer(self) -> NodeLedgerGateway:
        return self

    def height(self) -> int:
        raise NotImplementedError(
            "consent decisions through a remote node are not wired (the ingest bench makes none)"
        )

    async def submit(self, contract: str, function: str, args: list[Any]) -> Any:
        return await self.client.submit(contract, function, args)

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any:
        return await self.client.evaluate(contract, function, args)


async def run_fhir_network_bench(
    directory: Path, *, resources: int = 1000, batch: int = 200, validation_workers: int = 0
) -> dict[str, Any]:
    """Ingest through the running network in ``directory`` (see the module docstring)."""
    net = running_network(directory)
    layout, spec, config, verify = net.layout, net.spec, net.config, net.verify
    orgs = list(spec.orgs)
    signer = Ed25519Signer()
    did = signer.did_key
    handle = patient_handle(os.urandom(64))
    async with AsyncExitStack() as stack:
        admins = {
            org: await stack.enter_async_context(
                NodeClient(spec.url(org), config.member(org, "admin"), verify=verify)
            )
            for org in orgs
        }
        await approve_contract(spec, admins, "locator", 30.0)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="careledger-fhir-net-")))
        pool = ValidationPool(validation_workers) if validation_workers else None
        if pool is not None:
            stack.callback(pool.close)
            await asyncio.to_thread(pool.warm_up)
        local, held = bench_records(resources, len(orgs))
        providers: list[tuple[FhirService, ProviderLedger]] = []
        for org in orgs:
            client = await stack.enter_async_context(
                NodeClient(spec.url(org), config.member(org, "client0"), verify=verify)
            )
            store = SQLiteResourceStore(tmp / f"{org}-fhir.sqlite", MasterKey(os.urandom(32)))
            stack.callback(store.close)
            service = FhirService(
                store, base_url=f"http://{org.lower()}.fhir.test", validation=pool
            )
            ledger = ProviderLedger(NodeLedgerGateway(client), secrets.token_bytes(32))
            stack.push_async_callback(ledger.close)
            ledger.directory.link(PatientLink(local, did, handle))
            service.listener = ledger
            providers.append((service, ledger))
        bundles = [
            (service, transaction_bundle(items[i : i + batch]))
            for (service, _), items in zip(providers, held, strict=True)
            for i in range(0, len(items), batch)
        ]
        total = sum(len(items) for items in held)
        _warm_up(held)
        names = _pid_names(layout)
        cpu0 = {**_process_cpu(layout, names), "validation_workers": _pool_cpu(pool)}
        started = time.perf_counter()
        for service, bundle in bundles:
            await asyncio.to_thread(process_bundle, service, bundle)
        stored = time.perf_counter() - started
        for _, ledger in providers:
            await ledger.flush()
        ingest = time.perf_counter() - started
        cpu1 = {**_process_cpu(layout, names), "validation_workers": _pool_cpu(pool)}
        indexed = await admins[orgs[0]].evaluate("locator", "entries", [handle, [], 0])
    if len(indexed) != total:
        raise CareLedgerError(f"{len(indexed)} of {total} resources are on the locator")
    return {
        "network_orgs": len(orgs),
        "validation_workers": validation_workers,
        "resources": total,
        "bundles": len(bundles),
        "ingest_seconds": round(ingest, 3),
        "ingest_resources_per_s": round(total / ingest, 1),
        "store_only_resources_per_s": round(total / stored, 1),
        "cpu_ms_per_resource": {
            name: round((cpu1[name] - cpu0[name]) * 1000 / total, 3)
            for name in cpu1
            if name in cpu0
        },
    }


def fhir_network_report(figures: dict[str, Any]) -> BenchReport:
    return BenchReport(
        "careledger bench fhir --network (running network)",
        figures,
        "ingest_resources_per_s",
        "store_only_resources_per_s",
    )
