"""``careledger bench ui``: page latency of the web UI on demo data — a patient with many
resources and a long chain in the explorer.

An embedded consortium (Hospital, Lab, Payer) gets one synthetic patient with ``resources``
resources spread over the three holders (:func:`careledger.sim.demo_ui.populate`); the patient,
a clinician, an operator and Payer's payer-desk staff sign in (demo keys) and each page is
fetched ``requests`` times over httpx's in-process ASGI transport, so the figures are the
server's: routing, session, ledger and FHIR reads, ``$everything`` across holders with hash
verification, and rendering.

The explorer is then measured on a chain padded to ``blocks`` blocks: a copy of Hospital's block
file, extended with blocks that repeat a real transaction, replaces its peer's block store for
that phase (nothing is submitted meanwhile; the pages read blocks by number, so their cost does
not grow with the chain).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from careledger.access import require_rules
from careledger.bench.fhir import bench_records
from careledger.bench.report import BenchReport, percentile
from careledger.ledger.block import make_block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.transaction import decode_envelope, tx_id_of
from careledger.sim.demo_ui import populate
from careledger.web.app import mount_ui
from careledger.web.demo import demo_context

ORGS = ["Hospital", "Lab", "Payer"]


@dataclass(frozen=True)
class PageTiming:
    path: str
    p50_ms: float
    p95_ms: float
    max_ms: float
    cpu_ms: float = 0.0
    """Mean process CPU time per request (every thread: the holders answer in-process)."""


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("no CSRF token on the sign-in page")
    return found.group(1)


async def _sign_in(
    client: httpx.AsyncClient, kind: str, field: str, value: str, desk: str = ""
) -> None:
    page = await client.get(f"/ui/login/{kind}")
    form = {"csrf": _csrf(page.text), field: value, "desk": desk}
    reply = await client.post(f"/ui/login/{kind}", data=form)
    if reply.status_code != 303:
        raise RuntimeError(f"demo sign-in as {value} failed: {reply.status_code}")


async def _time(client: httpx.AsyncClient, path: str, requests: int) -> PageTiming:
    latencies = []
    cpu = time.process_time()
    for _ in range(requests):
        began = time.perf_counter()
        reply = await client.get(path)
        latencies.append((time.perf_counter() - began) * 1000)
        if reply.status_code != 200:
            raise RuntimeError(f"{path} answered {reply.status_code}")
    return PageTiming(
        path,
        round(percentile(latencies, 0.5), 1),
        round(percentile(latencies, 0.95), 1),
        round(max(latencies), 1),
        round((time.process_time() - cpu) * 1000 / max(requests, 1), 1),
    )


async def _payer_desk(net: Any, payers: dict[str, Any], requests: int) -> list[PageTiming]:
    """The payer desk's pages at Payer (the demo's three prior authorizations)."""
    ctx, service = demo_context(net, ORGS[2], payer=payers[ORGS[2]])
    app = FastAPI()
    mount_ui(app, ctx)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ui") as staff:
            await _sign_in(staff, "staff", "demo_member", f"{ORGS[2]}.admin", "payer")
            return [
                await _time(staff, path, requests)
                for path in ("/ui/payer", "/ui/payer/decision-times", "/ui/payer/claims",
                             "/ui/payer/remittances", "/ui/payer/directory")
            ]  # fmt: skip
    finally:
        service.close()


def _pad(peer: Any, directory: Path, blocks: int) -> BlockStore:
    """A copy of ``peer``'s chain extended to ``blocks`` blocks (unsigned, one tx each)."""
    path = directory / "padded-blocks.log"
    shutil.copyfile(peer.blocks.path, path)
    store = BlockStore(path, fsync=False)
    last = store.get(store.height() - 1)
    sample = [last.transactions[0]]
    previous, stamp = last.header.hash(), last.header.timestamp
    for number in range(store.height(), blocks):
        stamp += 500
        block = make_block(number, previous, sample, stamp)
        block.codes = list(last.codes[:1])
        store.append(block)
        previous = block.header.hash()
    return store


async def run_ui_bench(*, resources: int = 1000, blocks: int = 100_000, requests: int = 30
                       ) -> dict[str, Any]:  # fmt: skip
    from careledger.node.consortium import init_consortium
    from careledger.node.network import EmbeddedNetwork

    with tempfile.TemporaryDirectory(prefix="careledger-bench-ui-") as tmp:
        init_consortium(Path(tmp) / "net", ORGS, name="bench-ui")
        net = EmbeddedNetwork.open(Path(tmp) / "net", fsync=False)
        await net.start()
        try:
            local, spread = bench_records(resources, len(ORGS))
            records = (local, dict(zip(ORGS, spread, strict=True)))
            population = await populate(net, Path(tmp), records=records)
            ctx, service = demo_context(
                net, ORGS[0], provider=population.providers[ORGS[0]],
                patients=[population.patient],
            )  # fmt: skip
            app = FastAPI()
            mount_ui(app, ctx)
            require_rules(app)  # only the mounted UI, whose routes declare theirs
            transport = httpx.ASGITransport(app=app)
            timings: list[PageTiming] = []
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://ui") as patient,
                httpx.AsyncClient(transport=transport, base_url="http://ui") as clinician,
                httpx.AsyncClient(transport=transport, base_url="http://ui") as operator,
            ):
                await _sign_in(patient, "patient", "demo_did", population.patient.did)
                await _sign_in(clinician, "staff", "demo_member", f"{ORGS[0]}.client0")
                await _sign_in(operator, "staff", "demo_member", f"{ORGS[0]}.admin")
                page = await clinician.get("/ui/provider")
                local_id = population.local.split("/", 1)[1]
                form = {"csrf": _csrf(page.text), "patient": local_id}
                chosen = await clinician.post("/ui/provider", data=form)
                if chosen.status_code != 303:
                    raise RuntimeError("the clinician could not open the patient's record")
                record = await clinician.get("/ui/provider/record")
                shown = record.text.count('class="badge ok"')
                for path in ("/ui/patient", "/ui/patient/access", "/ui/patient/consents"):
                    timings.append(await _time(patient, path, requests))
                timings.append(await _time(clinician, "/ui/provider/record", requests))
                timings.append(await _time(clinician, "/ui/provider/prior-auth", requests))
                timings += await _payer_desk(net, population.payers, requests)
                for provider in population.providers.values():
                    await provider.ledger.flush()
                peer = net.peers[ORGS[0]]
                real = peer.blocks
                block1 = real.get(1)
                padded = await asyncio.to_thread(_pad, peer, Path(tmp), blocks)
                peer.blocks = padded
                try:
                    envelope = decode_envelope(block1.transactions[0])
                    tx_path = f"/ui/explorer/tx/{tx_id_of(envelope.proposal)}"
                    for path in ("/ui/explorer", "/ui/explorer/blocks",
                                 f"/ui/explorer/blocks?before={blocks // 2}",
                                 f"/ui/explorer/blocks/{blocks - 1}", tx_path,
                                 "/ui/explorer/governance",
                                 "/ui/explorer/search?q=_gov:org/Hospital"):  # fmt: skip
                        timings.append(await _time(operator, path, requests))
                finally:
                    peer.blocks = real
                    padded.close()
            service.close()
            for provider in population.providers.values():
                await provider.client.aclose()
                provider.service.store.close()
        finally:
            await net.stop()
    worst = max(t.p95_ms for t in timings)
    report: dict[str, Any] = {
        "resources": resources,
        "record_page_resources": shown,
        "explorer_blocks": blocks,
        "requests_per_page": requests,
        "worst_p95_ms": worst,
        "p95_under_200ms": worst < 200,
    }
    for t in timings:
        label = re.sub(r"[0-9a-f]{64}", "{tx_id}", t.path)
        report[f"{label} p50/p95 ms"] = f"{t.p50_ms} / {t.p95_ms}"
        report[f"{label} cpu ms/request"] = t.cpu_ms
    return report


def ui_report(figures: dict[str, Any]) -> BenchReport:
    """The figures as the one report shape (no throughput headline: this is latency)."""
    return BenchReport("careledger bench ui (embedded consortium, in-process ASGI)", figures)
