"""``careledger bench network``: the ledger benchmark's workload against a running local network.

Read-modify-write transfers between random accounts, each submitted by the client of the
account's owning organisation through that organisation's node, with a fixed number in flight.
The report has the shape of :class:`careledger.bench.ledger.LedgerBenchReport` less the
signature-pipeline figures, which only an in-process network can measure: committed valid tx/s,
end-to-end latency percentiles (client → node → endorsers → ordering → commit at the node → client),
success rate, blocks cut and failures by kind.

With jetstream ordering the same run then measures the NATS publish ceiling: JetStream publish
acknowledgements per second to a scratch R3 file stream on the same cluster (same servers, so the
same ``sync_interval: always``), messages the size of the run's average transaction envelope, each
with a ``Nats-Msg-Id`` as the tx stream has; the scratch stream is deleted afterwards. It is what
ordering could take if nothing else ran: the gap to the tx/s is the nodes' own cost.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import random
import secrets
import ssl
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from careledger.api.client import NodeClient, sign_proposal
from careledger.bench.report import BenchReport, latency_ms
from careledger.daemon.config import load_node_config
from careledger.errors import CareLedgerError, TransactionInvalid
from careledger.netctl.control import client_verify, nats_client_seed
from careledger.netctl.layout import NetworkLayout, NetworkSpec
from careledger.node.consortium import ConsortiumConfig, load_config


@dataclass(frozen=True)
class RunningNetwork:
    """What a bench needs of a running ``network up`` directory: its layout and spec, the
    consortium's member keys, and how to reach the nodes (TLS or not)."""

    layout: NetworkLayout
    spec: NetworkSpec
    config: ConsortiumConfig
    verify: ssl.SSLContext | bool


def running_network(directory: Path) -> RunningNetwork:
    """The running network in ``directory``; a clear error when there is none."""
    layout = NetworkLayout(directory)
    if not layout.exists():
        raise CareLedgerError(f"no network in {directory} (careledger network up)")
    spec = layout.load()
    return RunningNetwork(layout, spec, load_config(layout.consortium), client_verify(layout, spec))


@dataclass
class NetworkBenchReport:
    transactions: int
    committed_valid: int
    seconds: float
    tps: float
    nats_publish_acks_per_s: float | None
    """JetStream publish acks/s to a scratch R3 stream on the same cluster (None: no NATS)."""
    nats_publish_messages: int
    nats_publish_payload_bytes: int
    success_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    blocks: int
    failures: dict[str, int]
    cpu_ms_per_tx: dict[str, float]
    """CPU milliseconds (user + system) per committed valid transaction during the run, of each
    node process, each NATS server and the bench client itself (Linux /proc; empty elsewhere)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self) -> BenchReport:
        return BenchReport(
            "careledger bench network", self.as_dict(), "tps", "nats_publish_acks_per_s"
        )


def _letters(n: int) -> str:
    """``n`` in base 26 as lowercase letters: account names without digit runs, which the
    contracts' PHI screen refuses (five or more digits may be an MRN, a ZIP code, …)."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = chr(ord("a") + r) + out
        if n == 0:
            return out


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None: unknown or not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _process_cpu(layout: NetworkLayout, names: list[str]) -> dict[str, float]:
    """CPU seconds of each named process of the network, and of this one (``bench``)."""
    out: dict[str, float] = {"bench": time.process_time()}
    for name in names:
        try:
            pid = int(layout.pid_file(name).read_text().split()[0])  # first line: the PID
        except (OSError, ValueError):
            continue
        seconds = _cpu_seconds(pid)
        if seconds is not None:
            out[name] = seconds
    return out


def policy_for(orgs: list[str]) -> str:
    """A majority endorsement policy: 2 of 3 for three organisations."""
    return f"{len(orgs) // 2 + 1} OF ({', '.join(orgs)})"


async def approve_contract(
    spec: NetworkSpec, admins: dict[str, NodeClient], name: str, timeout: float = 30.0
) -> None:
    """Approve contract ``name`` by a majority of admins, unless it already is; return once
    every node has committed the approval (a node that lags would refuse the contract)."""
    first = admins[spec.orgs[0]]
    if await first.evaluate("_gov", "contract", [name]) is None:
        change = {"name": name, "version": "1.0", "policy": policy_for(spec.orgs)}
        proposal = await first.submit("_gov", "propose", ["contract", change])
        status = proposal.result["status"]
        # Another node endorses an approval only once it has committed the proposal.
        height = (await first.state()).height
        for org in spec.orgs[1:]:
            if status == "applied":
                break
            await _reach(admins, height, timeout)
            approved = await admins[org].submit("_gov", "approve", [proposal.result["id"]])
            status = approved.result["status"]
            height = (await admins[org].state()).height
    deadline = time.monotonic() + timeout
    for org, admin in admins.items():
        while await admin.evaluate("_gov", "contract", [name]) is None:
            if time.monotonic() > deadline:
                raise CareLedgerError(f"the node of {org} has not committed the {name} approval")
            await asyncio.sleep(0.05)


async def _reach(clients: dict[str, NodeClient], height: int, timeout: float) -> None:
    """Wait until every node has committed ``height`` blocks."""
    deadline = time.monotonic() + timeout
    for org, client in clients.items():
        while (await client.state()).height < height:
            if time.monotonic() > deadline:
                raise CareLedgerError(f"the node of {org} has not reached height {height}")
            await asyncio.sleep(0.05)


async def approve_tokens(
    spec: NetworkSpec, admins: dict[str, NodeClient], timeout: float = 30.0
) -> None:
    """:func:`approve_contract` of the tokens contract (the workload's)."""
    await approve_contract(spec, admins, "tokens", timeout)


@dataclass(frozen=True, slots=True)
class PublishCeiling:
    messages: int
    payload_bytes: int
    seconds: float
    acks_per_s: float


async def _connect(servers: list[str], tls: ssl.SSLContext | None, seed: Path | None) -> Any:
    """A plain nats-py connection for the bench (TLS handshake first with a context; signed in
    with the network's client nkey ``seed`` when it has one)."""
    import nats

    return await nats.connect(
        servers,
        connect_timeout=2,
        name="careledger-bench",
        tls=tls,
        tls_handshake_first=tls is not None,
        nkeys_seed=str(seed) if seed is not None else None,
    )


async def nats_publish_ceiling(
    servers: list[str],
    *,
    messages: int = 5_000,
    payload_bytes: int = 2_048,
    inflight: int = 512,
    replicas: int = 3,
    timeout: float = 120.0,
    tls: ssl.SSLContext | None = None,
    seed: Path | None = None,
) -> PublishCeiling:
    """Publish ``messages`` to a scratch stream (file storage, ``replicas``) as fast as acks
    come back, ``inflight`` unacknowledged at most; the stream is deleted afterwards."""
    from nats.js import api

    from careledger.ordering.jetstream_streams import MSG_ID

    nc = await _connect(servers, tls, seed)
    try:
        js = nc.jetstream(timeout=10, publish_async_max_pending=inflight)
        name = f"BENCH_{secrets.token_hex(4).upper()}"
        subject = f"careledger.bench.{name.lower()}"
        await asyncio.wait_for(
            js.add_stream(
                api.StreamConfig(
                    name=name,
                    subjects=[subject],
                    retention=api.RetentionPolicy.LIMITS,
                    storage=api.StorageType.FILE,
                    num_replicas=replicas,
                    discard=api.DiscardPolicy.NEW,
                    duplicate_window=120.0,
                    allow_direct=True,
                )
            ),
            15,
        )
        try:
            deadline = time.monotonic() + 15
            while True:  # a new R3 stream answers nothing until it has a leader
                info = await asyncio.wait_for(js.stream_info(name), 5)
                if info.cluster is None or info.cluster.leader or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            payload = os.urandom(payload_bytes)
            for i in range(min(100, messages)):  # warm-up: connections, leader, file blocks
                await js.publish(subject, payload, headers={MSG_ID: f"w{i}"})
            started = time.perf_counter()
            futures = [
                await js.publish_async(subject, payload, headers={MSG_ID: str(i)})
                for i in range(messages)
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
            seconds = time.perf_counter() - started
        finally:
            await asyncio.wait_for(js.delete_stream(name), 15)
    finally:
        await nc.close()
    return PublishCeiling(messages, payload_bytes, round(seconds, 3), round(messages / seconds, 1))


async def _envelope_size(
    servers: list[str], stream: str, tls: ssl.SSLContext | None = None, seed: Path | None = None
) -> int:
    """The average message size of the tx stream so far (what the ceiling publishes)."""

    nc = await _connect(servers, tls, seed)
    try:
        info = await asyncio.wait_for(nc.jetstream().stream_info(stream), 5)
        count, size = info.state.messages, info.state.bytes
        return int(size // count) if count else 2_048
    finally:
        await nc.close()


async def run_network_bench(
    layout: NetworkLayout,
    *,
    transactions: int = 2_000,
    concurrency: int = 48,
    accounts: int = 5_000,
    nats_messages: int = 5_000,
    submit_batch: int = 1,
) -> NetworkBenchReport:
    """``submit_batch`` over 1: transfers go up to that many a request (``/v1/submit-batch``),
    ``concurrency // submit_batch`` requests in flight."""
    spec = layout.load()
    config = load_config(layout.consortium)
    verify = client_verify(layout, spec)
    async with AsyncExitStack() as stack:

        async def client(org: str, member: str) -> NodeClient:
            return await stack.enter_async_context(
                NodeClient(spec.url(org), config.member(org, member), verify=verify)
            )

        admins = {org: await client(org, "admin") for org in spec.orgs}
        # Several clients per organisation, each with a few connections: httpx's connection pool
        # scans every pooled connection on each request, so one pool of `concurrency`
        # connections costs the bench (on the same cores as the nodes) O(concurrency) per request.
        shards = max(1, min(16, concurrency // 4))
        minters = {
            org: [admins[org]] + [await client(org, "admin") for _ in range(shards - 1)]
            for org in spec.orgs
        }
        clients = {org: [await client(org, "client0") for _ in range(shards)] for org in spec.orgs}
        turn = itertools.count()
        await approve_tokens(spec, admins)
        run = random.Random().getrandbits(32)
        owned = [
            (f"bench-{_letters(run)}-{_letters(i)}", spec.orgs[i % len(spec.orgs)])
            for i in range(accounts)
        ]
        sem = asyncio.Semaphore(concurrency)

        async def mint(account: str, org: str) -> None:
            async with sem:
                for attempt in range(3):
                    minter = minters[org][next(turn) % shards]
                    try:
                        await minter.submit("tokens", "mint", [account, 1_000_000])
                        return
                    except httpx.TransportError:  # a kept-alive connection the node closed
                        if attempt == 2:
                            raise

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
                    submitter = clients[org][next(turn) % shards]
                    await submitter.submit("tokens", "transfer", [src, dst, 1], retries=0)
                except TransactionInvalid as exc:
                    failures[exc.code] += 1
                    return
                except (CareLedgerError, httpx.HTTPError) as exc:
                    failures[type(exc).__name__] += 1
                    return
                latencies.append(time.perf_counter() - t0)

        names = _pid_names(layout)
        cpu0 = _process_cpu(layout, names)
        started = time.perf_counter()
        if submit_batch <= 1:
            await asyncio.gather(*(transfer() for _ in range(transactions)))
        else:
            by_org: dict[str, list[tuple[str, str]]] = {org: [] for org in spec.orgs}
            for _ in range(transactions):
                (src, org), (dst, _) = rng.sample(owned, 2)
                by_org[org].append((src, dst))

            async def batches(org: str, k: int) -> None:
                queue = by_org[org]
                submitter = clients[org][k % shards]
                while queue:
                    chunk, queue[:] = queue[:submit_batch], queue[submit_batch:]
                    items = [
                        sign_proposal(submitter.identity, "tokens", "transfer", [s, d, 1])
                        for s, d in chunk
                    ]
                    t0 = time.perf_counter()
                    try:
                        outs = await submitter.submit_batch(items)
                    except (CareLedgerError, httpx.HTTPError) as exc:
                        failures[type(exc).__name__] += len(chunk)
                        continue
                    took = time.perf_counter() - t0
                    for out in outs:
                        if isinstance(out, TransactionInvalid):
                            failures[out.code] += 1
                        elif isinstance(out, BaseException):
                            failures[type(out).__name__] += 1
                        else:
                            latencies.append(took)

            workers = max(1, concurrency // submit_batch)
            await asyncio.gather(
                *(batches(spec.orgs[k % len(spec.orgs)], k) for k in range(workers))
            )
        elapsed = time.perf_counter() - started
        cpu1 = _process_cpu(layout, names)
        blocks = (await admins[spec.orgs[0]].state()).height - height0
    ceiling: PublishCeiling | None = None
    if spec.ordering == "jetstream" and nats_messages > 0:
        import nats.errors

        channel = load_node_config(layout.node_config(spec.orgs[0])).ordering.channel
        try:
            tls = verify if isinstance(verify, ssl.SSLContext) else None
            seed = nats_client_seed(layout, spec)
            size = await _envelope_size(spec.nats_urls, f"{channel.upper()}_TX", tls, seed)
            ceiling = await nats_publish_ceiling(
                spec.nats_urls, messages=nats_messages, payload_bytes=size, tls=tls, seed=seed
            )
        except (TimeoutError, nats.errors.Error) as exc:
            raise CareLedgerError(f"NATS publish ceiling: {exc!r}") from exc
    valid = len(latencies)
    latency = latency_ms(latencies)
    return NetworkBenchReport(
        transactions=transactions,
        committed_valid=valid,
        seconds=round(elapsed, 3),
        tps=round(valid / elapsed, 1) if elapsed else 0.0,
        nats_publish_acks_per_s=ceiling.acks_per_s if ceiling else None,
        nats_publish_messages=ceiling.messages if ceiling else 0,
        nats_publish_payload_bytes=ceiling.payload_bytes if ceiling else 0,
        success_rate=round(valid / transactions, 4),
        latency_p50_ms=latency["latency_p50_ms"],
        latency_p95_ms=latency["latency_p95_ms"],
        latency_p99_ms=latency["latency_p99_ms"],
        blocks=blocks,
        failures=dict(failures),
        cpu_ms_per_tx={
            name: round((cpu1[name] - cpu0[name]) * 1000 / valid, 2) if valid else 0.0
            for name in cpu1
            if name in cpu0
        },
    )


def _pid_names(layout: NetworkLayout) -> list[str]:
    """Every process with a PID file in the network's ``run`` directory."""
    run = layout.pid_file("x").parent
    return sorted(p.stem for p in run.glob("*.pid")) if run.is_dir() else []
