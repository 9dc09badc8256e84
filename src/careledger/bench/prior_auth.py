"""Prior authorization ``Claim/$submit`` latency at the payer's node, for ``careledger bench``.

An embedded consortium (Org2 the payer) serves the node API with the payer routes in-process;
clients of Org1 post synthetic PAS request Bundles (signed requests), ``concurrency`` at a time,
``rounds`` times per concurrency level: p50/p95/p99 and requests per second for each level. The
baseline, measured in the same run, is the ``prior_auth.submit`` transaction alone through the
payer's gateway at the highest concurrency (no HTTP, no FHIR checks, no response Bundle), so
the ratio shows what the PAS layer costs over the ledger. Prints nothing.

Not wired to a CLI command here: ``careledger bench payer`` (with the claims figures) calls
:func:`run_prior_auth_bench`.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec
from fastapi import FastAPI

from careledger.api.app import create_app
from careledger.api.auth import sign_request
from careledger.api.service import NodeService
from careledger.bench.report import BenchReport, latency_ms
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.ordering.base import CutterConfig
from careledger.payer.pas.bundles import member_handle, parse_request
from careledger.payer.pas.service import PriorAuthService, submission_args
from careledger.payer.pas.store import MemoryPasStore
from careledger.payer.routes import add_payer_routes
from careledger.sim.payer_workload import pas_request

ORGS = ["Org1", "Org2", "Org3"]
POLICY = "2 OF (Org1, Org2, Org3)"
PAYER, PROVIDER = "Org2", "Org1"
_SECRET = hashlib.sha256(b"bench-payer-member-secret").digest()


def sample_request(n: int) -> dict[str, Any]:
    """A synthetic PAS request Bundle (member id ``B<n>``, fresh identifiers)."""
    return pas_request(
        payer=PAYER,
        member_system="urn:bench:members",
        member_id=f"B{n:09d}",
        units=2,
        claim_system="urn:bench:pa",
        provider="Bench Clinic",
        coverage="bench",
    )


async def _timed(
    action: Callable[[int], Awaitable[None]], concurrency: int, rounds: int, start: int
) -> tuple[list[float], float]:
    latencies: list[float] = []

    async def one(n: int) -> None:
        t0 = time.perf_counter()
        await action(n)
        latencies.append(time.perf_counter() - t0)

    began = time.perf_counter()
    for r in range(rounds):
        base = start + r * concurrency
        await asyncio.gather(*(one(base + i) for i in range(concurrency)))
    return latencies, time.perf_counter() - began


async def run_prior_auth_bench(
    *, concurrency: Sequence[int] = (10, 100), rounds: int = 3, workdir: str | Path | None = None
) -> BenchReport:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        config = init_consortium(
            tmp, ORGS, name="bench-pa", cutter=CutterConfig(max_tx_count=500, batch_timeout=0.01)
        )
        net = EmbeddedNetwork.open(tmp)
        await net.start()
        try:
            admins = {o: net.gateway(o, "admin") for o in ORGS}
            change = {"name": "prior_auth", "version": "1.0", "policy": POLICY}
            proposal = await admins["Org1"].submit("_gov", "propose", ["contract", change])
            await admins["Org2"].submit("_gov", "approve", [proposal.result["id"]])
            gateway = net.gateway(PAYER)
            service = PriorAuthService(gateway, MemoryPasStore(), _SECRET)
            node = NodeService(net.peers[PAYER], gateway)
            app = create_app(node)
            assert isinstance(app.app, FastAPI)
            add_payer_routes(app.app, service)
            provider = config.member(PROVIDER, "client0")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://payer") as http:

                async def submit(n: int) -> None:
                    raw = msgspec.json.encode(sample_request(n))
                    headers = sign_request(provider, "POST", "/fhir/Claim/$submit", raw)
                    headers["Content-Type"] = "application/fhir+json"
                    reply = await http.post("/fhir/Claim/$submit", content=raw, headers=headers)
                    if reply.status_code != 200:
                        raise RuntimeError(f"$submit answered {reply.status_code}")

                async def ledger_only(n: int) -> None:
                    raw = msgspec.json.encode(sample_request(n))
                    request = parse_request(msgspec.json.decode(raw), raw)
                    handle = member_handle(_SECRET, request.member_system, request.member_id)
                    args = [submission_args(request, handle, PROVIDER)]
                    await gateway.submit("prior_auth", "submit", args)

                n = 0
                for level in concurrency:
                    latencies, seconds = await _timed(submit, level, rounds, n)
                    n += level * rounds
                    figures[f"submit_per_s_{level}"] = round(len(latencies) / seconds, 1)
                    figures.update(latency_ms(latencies, f"submit_{level}"))
                top = max(concurrency)
                latencies, seconds = await _timed(ledger_only, top, rounds, n)
                figures[f"ledger_only_per_s_{top}"] = round(len(latencies) / seconds, 1)
                figures.update(latency_ms(latencies, f"ledger_only_{top}"))
            node.close()
        finally:
            await net.stop()
    top = max(concurrency)
    return BenchReport(
        "prior authorization $submit (embedded consortium, in-process API)",
        figures,
        throughput_key=f"submit_per_s_{top}",
        baseline_key=f"ledger_only_per_s_{top}",
    )
