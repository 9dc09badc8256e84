"""Helpers for the tests of a `network up` consortium: clients, a load generator, convergence and
the exactly-once check over every node's chain."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx

from careledger.api.client import NodeClient
from careledger.errors import CareLedgerError
from careledger.netctl import control, processes
from careledger.netctl.layout import NetworkLayout, NetworkSpec
from careledger.node.consortium import load_config


@dataclass
class Ledger:
    """Every acknowledged transaction id, and the failures seen on the way (by kind)."""

    acked: list[str] = field(default_factory=list)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)


async def admins(stack: AsyncExitStack, layout: NetworkLayout) -> dict[str, NodeClient]:
    spec = layout.load()
    config = load_config(layout.consortium)
    return {
        org: await stack.enter_async_context(
            NodeClient(spec.url(org), config.member(org, "admin"), timeout=20)
        )
        for org in spec.orgs
    }


async def load(
    clients: list[NodeClient], ledger: Ledger, stop: asyncio.Event, tag: str, workers: int = 4
) -> None:
    """Mint fresh accounts (no conflicts) through ``clients`` in turn until ``stop`` is set."""

    async def worker(w: int) -> None:
        i = 0
        while not stop.is_set():
            client = clients[(w + i) % len(clients)]
            try:
                out = await client.submit("tokens", "mint", [f"{tag}-{w}-{i}", 1], retries=0)
                ledger.acked.append(out.tx_id)
            except (CareLedgerError, httpx.HTTPError) as exc:
                ledger.failures[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
            i += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))


async def converged(
    spec: NetworkSpec, clients: dict[str, NodeClient], timeout: float = 30.0
) -> tuple[int, str]:
    """Wait until every node has the same height and state root; return them."""
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, tuple[int, str]] = {}
        for org in spec.orgs:
            try:
                state = await clients[org].state()
                seen[org] = (state.height, state.state_root)
            except (CareLedgerError, httpx.HTTPError):
                pass
        if len(seen) == len(spec.orgs) and len(set(seen.values())) == 1:
            return next(iter(seen.values()))
        if time.monotonic() > deadline:
            raise AssertionError(f"nodes did not converge: {seen}")
        await asyncio.sleep(0.2)


async def valid_counts(client: NodeClient, height: int) -> collections.Counter[str]:
    """How many times each tx id is committed VALID in blocks 0..height-1 of one node."""
    counts: collections.Counter[str] = collections.Counter()
    if height == 0:
        return counts
    async for event in client.events(0):
        for tx in event.transactions:
            if tx.code == "VALID" and tx.tx_id:
                counts[tx.tx_id] += 1
        if event.block >= height - 1:
            break
    return counts


async def check_exactly_once(
    spec: NetworkSpec, clients: dict[str, NodeClient], acked: list[str]
) -> int:
    """Every node agrees; each acknowledged tx is VALID in exactly one block; no tx id is VALID
    twice. Returns the common height."""
    height, _ = await converged(spec, clients)
    for org in spec.orgs:
        counts = await valid_counts(clients[org], height)
        twice = [tx for tx, n in counts.items() if n > 1]
        assert not twice, f"{org}: committed VALID more than once: {twice[:5]}"
        missing = [tx for tx in acked if counts[tx] != 1]
        assert not missing, f"{org}: acknowledged but not committed once: {missing[:5]}"
    return height


def kill(layout: NetworkLayout, name: str) -> int:
    """SIGKILL a process of the network by its recorded PID (a crash)."""
    pid = processes.running_pid(layout, name)
    assert pid is not None, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes.running_pid(layout, name) is not None:
        assert time.monotonic() < deadline, f"{name} survived SIGKILL"
        time.sleep(0.02)
    return pid


async def restart(layout: NetworkLayout) -> None:
    """`network up` again: starts what is not running (from a thread: it runs its own loop)."""
    await asyncio.to_thread(control.up, layout, None, "jetstream")
