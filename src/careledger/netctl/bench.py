"""``careledger bench network``: the ledger benchmark's workload against a running local network.

Read-modify-write transfers between random accounts, each submitted by the client of the
account's owning organisation through that organisation's node, with a fixed number in flight.
The report has the shape of :class:`careledger.sim.bench_ledger.LedgerBenchReport` less the
signature-pipeline figures, which only an in-process network can measure: committed valid tx/s,
end-to-end latency percentiles (client → node → endorsers → ordering → commit at the node → client),
success rate, blocks cut and failures by kind.
"""

from __future__ import annotations

import asyncio
import collections
import random
import statistics
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from typing import Any

from careledger.api.client import NodeClient
from careledger.errors import CareLedgerError, TransactionInvalid
from careledger.netctl.layout import NetworkLayout, NetworkSpec
from careledger.node.consortium import load_config


@dataclass
class NetworkBenchReport:
    transactions: int
    committed_valid: int
    seconds: float
    tps: float
    success_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    blocks: int
    failures: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def policy_for(orgs: list[str]) -> str:
    """A majority endorsement policy: 2 of 3 for three organisations."""
    return f"{len(orgs) // 2 + 1} OF ({', '.join(orgs)})"


async def approve_tokens(spec: NetworkSpec, admins: dict[str, NodeClient]) -> None:
    """Approve the tokens contract by a majority of admins, unless it already is."""
    first = admins[spec.orgs[0]]
    if await first.evaluate("_gov", "contract", ["tokens"]) is not None:
        return
    change = {"name": "tokens", "version": "1.0", "policy": policy_for(spec.orgs)}
    proposal = await first.submit("_gov", "propose", ["contract", change])
    status = proposal.result["status"]
    for org in spec.orgs[1:]:
        if status == "applied":
            break
        status = (await admins[org].submit("_gov", "approve", [proposal.result["id"]])).result[
            "status"
        ]


async def run_network_bench(
    layout: NetworkLayout, *, transactions: int = 2_000, concurrency: int = 64, accounts: int = 200
) -> NetworkBenchReport:
    spec = layout.load()
    config = load_config(layout.consortium)
    async with AsyncExitStack() as stack:

        async def client(org: str, member: str) -> NodeClient:
            return await stack.enter_async_context(
                NodeClient(spec.url(org), config.member(org, member))
            )

        admins = {org: await client(org, "admin") for org in spec.orgs}
        clients = {org: await client(org, "client0") for org in spec.orgs}
        await approve_tokens(spec, admins)
        run = random.Random().getrandbits(32)
        owned = [(f"bench-{run:x}-{i}", spec.orgs[i % len(spec.orgs)]) for i in range(accounts)]
        sem = asyncio.Semaphore(concurrency)

        async def mint(account: str, org: str) -> None:
            async with sem:
                await admins[org].submit("tokens", "mint", [account, 1_000_000])

        await asyncio.gather(*(mint(a, o) for a, o in owned))
        rng = random.Random(7)
        latencies: list[float] = []
        failures: collections.Counter[str] = collections.Counter()
        height0 = (await admins[spec.orgs[0]].state()).height

        async def transfer() -> None:
            (src, org), (dst, _) = rng.sample(owned, 2)
            async with sem:
                t0 = time.perf_counter()
                try:
                    await clients[org].submit("tokens", "transfer", [src, dst, 1], retries=0)
                except TransactionInvalid as exc:
                    failures[exc.code] += 1
                    return
                except CareLedgerError as exc:
                    failures[type(exc).__name__] += 1
                    return
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(transfer() for _ in range(transactions)))
        elapsed = time.perf_counter() - started
        blocks = (await admins[spec.orgs[0]].state()).height - height0
    valid = len(latencies)
    return NetworkBenchReport(
        transactions=transactions,
        committed_valid=valid,
        seconds=round(elapsed, 3),
        tps=round(valid / elapsed, 1) if elapsed else 0.0,
        success_rate=round(valid / transactions, 4),
        latency_p50_ms=round(statistics.median(latencies) * 1000, 1) if latencies else 0.0,
        latency_p95_ms=round(_percentile(latencies, 0.95) * 1000, 1),
        latency_p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
        blocks=blocks,
        failures=dict(failures),
    )
