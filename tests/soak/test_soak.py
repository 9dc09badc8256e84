"""Faults under load: a `network up` consortium (three NATS servers, three nodes, two orderer
replicas) runs a mixed workload for a few minutes while the test kills and restarts node
processes and NATS servers (including the blocks stream's leader), pauses processes
(SIGSTOP/SIGCONT), restarts PostgreSQL under the nodes' state, and fills one node's disk.

At the end: every acknowledged transaction is committed VALID exactly once on every node,
every node has the same height and state root, every node's block file re-verifies offline
(``careledger verify``'s ``verify_chain``, to the node's own state root), and the figures are
printed. Only processes this test started are signalled (by their recorded PIDs); everything
listens on 127.0.0.1; every loop is bounded in count and time.

FHIR: ``network up`` does not enable the FHIR API, so there is no outbox to drain here (the
FHIR outbox under node restarts is covered by tests/fhir_ledger).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from careledger.api.client import NodeClient
from careledger.bench.network import approve_tokens
from careledger.daemon.config import StateSettings, load_node_config, save_node_config
from careledger.errors import CareLedgerError
from careledger.netctl import control, processes
from careledger.netctl.layout import NetworkLayout
from careledger.netctl.nats_cluster import NatsUnavailable, find_nats_server
from careledger.netctl.pgserver import PostgresUnavailable, ThrowawayPostgres
from careledger.node.consortium import load_config
from careledger.validation.chain import verify_chain
from tests.netctl.consortium import Ledger, admins, check_exactly_once, converged, load, restart
from tests.soak.faults import (
    FaultLog,
    Recovery,
    caught_up,
    crashed,
    disk_full,
    paused,
    small_disk,
    stream_leader,
)

ORGS = ["Org1", "Org2", "Org3"]
DOWN_SECONDS = 4.0
"""How long a crashed or paused process stays down (a few of the orderers' broadcast retries)."""
ROUNDS = int(os.environ.get("CARELEDGER_SOAK_ROUNDS", "3"))
"""Rounds of the fault schedule (each kills, pauses and restarts every kind of process once)."""
SOAK_BUDGET = 900.0
"""Hard bound on the whole fault schedule (seconds); a round takes about a minute here."""


@contextlib.contextmanager
def _postgres(log: FaultLog) -> Iterator[ThrowawayPostgres | None]:
    try:
        import psycopg  # noqa: F401  (the optional "postgres" extra)
    except ImportError:
        log.skipped["postgres-restart"] = "psycopg is not installed"
        yield None
        return
    server = ThrowawayPostgres()
    try:
        server.start()
    except (PostgresUnavailable, CareLedgerError) as exc:
        log.skipped["postgres-restart"] = str(exc)[:200]
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def _create(layout: NetworkLayout, pg: ThrowawayPostgres | None) -> None:
    """The network's files; with PostgreSQL, Org1 and Org2 keep their state there (Org3 on
    SQLite, on the small disk)."""
    spec = control.create(layout, ORGS, "jetstream")
    if pg is None:
        return
    for org in spec.orgs[:2]:
        path = layout.node_config(org)
        config = load_node_config(path)
        state = StateSettings(backend="postgres", dsn=pg.dsn, schema=f"soak_{org.lower()}")
        save_node_config(dataclasses.replace(config, state=state), path)


async def _reader(
    clients: list[NodeClient], stop: asyncio.Event, reads: collections.Counter[str]
) -> None:
    """The read half of the mixed workload: queries and signed reads, through every node."""
    i = 0
    while not stop.is_set() and i < 100_000:
        client = clients[i % len(clients)]
        try:
            await client.evaluate("tokens", "balance", [f"soak-0-{i % 50}"])
            await client.state()
            reads["ok"] += 1
        except (CareLedgerError, httpx.HTTPError):
            reads["failed"] += 1
            await asyncio.sleep(0.1)
        i += 1
        await asyncio.sleep(0.02)


async def _supervise(layout: NetworkLayout, log: FaultLog) -> None:
    """The nodes' supervisor (systemd's ``Restart=always``), until cancelled: a node process
    that stopped — a node stops when its state database connection is lost or its disk is
    full; a restart replays what its block file holds — is started again by `network up`."""
    while True:
        stopped = [org for org in ORGS if processes.running_pid(layout, org) is None]
        if stopped:
            log.supervisor_restarts += len(stopped)
            await restart(layout)
        await asyncio.sleep(0.5)


async def _served_after(ledger: Ledger, before: int, timeout: float = 120.0) -> None:
    """Until a transaction is acknowledged after the repair (bounded)."""
    deadline = time.monotonic() + timeout
    while len(ledger.acked) <= before:
        assert time.monotonic() < deadline, f"no transaction acknowledged {timeout} s after repair"
        await asyncio.sleep(0.1)


async def _schedule(
    layout: NetworkLayout,
    clients: dict[str, NodeClient],
    ledger: Ledger,
    log: FaultLog,
    pg: ThrowawayPostgres | None,
    disk_problem: str | None,
) -> None:
    async def height(client: NodeClient) -> int:
        with contextlib.suppress(CareLedgerError, httpx.HTTPError):
            return (await client.state()).height
        return 0

    async def measure(name: str, org: str | None = None) -> None:
        repaired = time.monotonic()
        others = [c for o, c in clients.items() if o != org]
        top = max([await height(c) for c in others], default=0)
        supervisor = asyncio.create_task(_supervise(layout, log))
        try:
            await _served_after(ledger, len(ledger.acked))
            if org is not None:
                await caught_up(clients[org], top)
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        log.recoveries.append(Recovery(name, time.monotonic() - repaired))

    await asyncio.sleep(5)  # load settles
    for round_ in range(ROUNDS):
        print(f"  round {round_ + 1} of {ROUNDS}")
        await _one_round(layout, measure, log, pg, disk_problem)


async def _one_round(
    layout: NetworkLayout,
    measure: Callable[..., Awaitable[None]],
    log: FaultLog,
    pg: ThrowawayPostgres | None,
    disk_problem: str | None,
) -> None:
    await crashed(layout, "Org3", DOWN_SECONDS)
    await measure("kill -9 node Org3 (endorser)", "Org3")

    leader = await stream_leader(layout)
    await crashed(layout, leader, DOWN_SECONDS)
    await measure(f"kill -9 NATS {leader} (blocks stream leader)")

    await paused(layout, "Org2", DOWN_SECONDS)
    await measure("SIGSTOP node Org2 (orderer replica, endorser)", "Org2")

    leader = await stream_leader(layout)
    await paused(layout, leader, DOWN_SECONDS)
    await measure(f"SIGSTOP NATS {leader} (blocks stream leader)")

    await crashed(layout, "Org1", DOWN_SECONDS)
    await measure("kill -9 node Org1 (orderer replica, endorser)", "Org1")

    leader = await stream_leader(layout)
    follower = next(n for n in ("nats0", "nats1", "nats2") if n != leader)
    await crashed(layout, follower, DOWN_SECONDS)
    await measure(f"kill -9 NATS {follower} (follower)")

    if pg is not None:
        took = await asyncio.to_thread(pg.restart)
        print(f"  PostgreSQL back in {took:.1f} s (immediate shutdown, crash recovery)")
        await measure("PostgreSQL immediate restart (state of Org1 and Org2)", "Org1")

    if disk_problem is None:
        written = await disk_full(layout.data("Org3"), DOWN_SECONDS)
        print(f"  filled Org3's disk with {written >> 20} MiB for {DOWN_SECONDS:g} s")
        await measure("disk full under node Org3", "Org3")
    else:
        log.skipped["disk-full"] = f"cannot mount a small filesystem here: {disk_problem}"


@pytest.mark.slow
def test_faults_under_load_lose_no_acknowledged_transaction(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsUnavailable as exc:
        pytest.skip(str(exc))
    layout = NetworkLayout(tmp_path / "net")
    log = FaultLog()
    ledger = Ledger()
    reads: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    with _postgres(log) as pg, small_disk(layout.data("Org3")) as disk_problem:
        _create(layout, pg)
        try:
            control.up(layout, None, "jetstream", timeout=120)

            async def main() -> tuple[int, dict[str, str]]:
                async with AsyncExitStack() as stack:
                    clients = await admins(stack, layout)
                    await approve_tokens(layout.load(), clients, timeout=120)
                    stop = asyncio.Event()
                    writers = asyncio.create_task(
                        load(list(clients.values()), ledger, stop, "soak", 4)
                    )
                    reader = asyncio.create_task(_reader(list(clients.values()), stop, reads))
                    try:
                        async with asyncio.timeout(SOAK_BUDGET):
                            await _schedule(layout, clients, ledger, log, pg, disk_problem)
                            await asyncio.sleep(5)  # load after the last fault
                    finally:
                        stop.set()
                        await asyncio.gather(writers, reader)
                    await control_up(layout)
                    spec = layout.load()
                    height = await check_exactly_once(spec, clients, ledger.acked)
                    _, root = await converged(spec, clients, timeout=120)
                    roots = {org: (await clients[org].state()).state_root for org in spec.orgs}
                    assert set(roots.values()) == {root}
                    return height, roots

            height, roots = asyncio.run(main())
        finally:
            control.down(layout)
        genesis = load_config(layout.consortium).genesis().header.hash()
        for org in ORGS:
            report = verify_chain(layout.data(org) / "blocks.log", genesis_hash=genesis)
            assert report.blocks == height, (org, report)
            assert report.state_root.hex() == roots[org], org
    took = time.monotonic() - started
    print(
        f"\nsoak: {took:.0f} s, {len(ledger.acked)} transactions acknowledged, lost 0, "
        f"committed twice 0; {len(log.recoveries)} faults injected; height {height}; "
        f"node processes restarted by the supervisor {log.supervisor_restarts}; "
        f"reads {reads['ok']} ok / {reads['failed']} refused during faults; "
        f"submit failures by kind {dict(ledger.failures)}"
    )
    log.print()
    assert len(ledger.acked) > 50, ledger.failures


async def control_up(layout: NetworkLayout) -> None:
    """Whatever a fault left down is started again before the final checks."""
    await asyncio.to_thread(control.up, layout, None, "jetstream", 120)
