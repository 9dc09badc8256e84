"""``careledger bench payer --network DIR``: claims adjudicated and committed per second through
a running ``network up`` consortium.

The first organisation is the provider, the second (the first when there is one) the payer: the
payer publishes the benchmark plan, admits the provider and enrols the members; the provider
posts 837P files of ``per_file`` claims to the payer's node (``POST /payer/x12``), ``in_flight``
files at a time. Each claim is read, answered in the 999/277CA, endorsed by the network's
policy, ordered, validated and committed by every node before the file's receipt comes back:
the figure is claims committed per second of wall time, end to end over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import msgspec

from careledger.api.auth import sign_request
from careledger.api.client import NodeClient
from careledger.bench.network import approve_contract, running_network
from careledger.bench.report import latency_ms
from careledger.errors import CareLedgerError
from careledger.payer.claims.routes import EDI_X12, NodeClaimDirectory, member_system_of
from careledger.sim.payer_workload import benefit_plan, claims_837, coverage, payer_claims


async def run_network_claims(
    directory: Path, *, claims: int = 1000, per_file: int = 100, in_flight: int = 4
) -> dict[str, Any]:
    """Figures of claims committed through a running network (see the module docstring)."""
    net = running_network(directory)
    layout, spec, config, verify = net.layout, net.spec, net.config, net.verify
    provider = spec.orgs[0]
    payer = spec.orgs[1] if len(spec.orgs) > 1 else spec.orgs[0]
    secret_file = layout.data(payer) / "payer-member.secret"
    text = secret_file.read_text().strip()
    secret = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    members = NodeClaimDirectory(payer, secret, member_system_of(payer))
    stamp = format(time.time_ns() // 1_000_000, "x")  # claim numbers unique to this run
    batch = [
        (msgspec.structs.replace(claim, claim_id=f"NB{stamp}-{n}"), off)
        for n, (claim, off) in enumerate(payer_claims(claims, payer, payer, members))
    ]
    async with AsyncExitStack() as stack:
        admins = {
            org: await stack.enter_async_context(
                NodeClient(spec.url(org), config.member(org, "admin"), verify=verify)
            )
            for org in spec.orgs
        }
        for name in ("plans", "claims"):
            await approve_contract(spec, admins, name, 30.0)
        admin = admins[payer]
        await admin.submit("plans", "publish", [msgspec.to_builtins(benefit_plan(payer))])
        if provider != payer:
            await admin.submit("plans", "admit", [provider, True])
        gate = asyncio.Semaphore(64)

        async def enrol(handle: str) -> None:
            async with gate:
                await admin.submit("plans", "enrol", [msgspec.to_builtins(coverage(handle))])

        await asyncio.gather(*(enrol(c.member) for c, _ in batch))
    files = [
        claims_837(batch[i : i + per_file], payer, f"net-{i}".encode())
        for i in range(0, len(batch), per_file)
    ]
    member = config.member(provider, "client0")
    url = spec.url(payer) + "/payer/x12"
    latencies: list[float] = []
    committed = 0
    send_gate = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(timeout=600, verify=verify) as web:

        async def send(data: bytes) -> None:
            nonlocal committed
            async with send_gate:
                headers = sign_request(member, "POST", "/payer/x12", data)
                headers["Content-Type"] = EDI_X12
                began = time.perf_counter()
                reply = await web.post(url, content=data, headers=headers)
                latencies.append(time.perf_counter() - began)
                if reply.status_code != 200:
                    raise CareLedgerError(f"/payer/x12 answered {reply.status_code}: {reply.text}")
                committed += len(reply.json()["claims"])

        started = time.perf_counter()
        await asyncio.gather(*(send(data) for data in files))
        seconds = time.perf_counter() - started
    return {
        "network_orgs": len(spec.orgs),
        "network_committed_claims": committed,
        "network_refused_claims": len(batch) - committed,
        "network_committed_claims_per_s": round(committed / seconds, 1),
        **latency_ms(latencies, f"network_file_{per_file}"),
    }
