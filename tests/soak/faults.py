"""Faults a soak injects into a `network up` network, each on a process the test started
(by the PID the network recorded), each bounded in time, and how long recovery took."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from careledger.api.client import NodeClient
from careledger.errors import CareLedgerError
from careledger.netctl import control, processes
from careledger.netctl.layout import NetworkLayout
from tests.netctl.consortium import kill, restart


@dataclass
class Recovery:
    """One fault: what it was and the seconds from its repair until the network served again
    (a new transaction acknowledged and the affected node caught up)."""

    fault: str
    seconds: float


@dataclass
class FaultLog:
    recoveries: list[Recovery] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    supervisor_restarts: int = 0

    def print(self) -> None:
        for r in self.recoveries:
            print(f"  fault {r.fault}: recovered in {r.seconds:.1f} s")
        for name, why in self.skipped.items():
            print(f"  fault {name}: not injected ({why})")


def pid_of(layout: NetworkLayout, name: str) -> int:
    pid = processes.running_pid(layout, name)
    assert pid is not None, f"{name} is not running"
    return pid


async def paused(layout: NetworkLayout, name: str, seconds: float) -> None:
    """SIGSTOP process ``name`` for ``seconds``, then SIGCONT (always)."""
    pid = pid_of(layout, name)
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


async def crashed(layout: NetworkLayout, name: str, seconds: float) -> None:
    """SIGKILL process ``name``, leave it down ``seconds``, then `network up` restarts it."""
    await asyncio.to_thread(kill, layout, name)
    await asyncio.sleep(seconds)
    await restart(layout)


async def stream_leader(layout: NetworkLayout, stream: str = "CARELEDGER_BLOCKS") -> str:
    """The process name (``nats<i>``) of the NATS server leading ``stream``'s Raft group."""
    import nats

    spec = layout.load()
    cluster = control.nats_cluster(layout, spec)
    # The network's servers refuse anonymous clients: sign in as the CLI does (its nkey, or TLS).
    seed = control.nats_client_seed(layout, spec)
    verify = control.client_verify(layout, spec)
    tls = verify if isinstance(verify, ssl.SSLContext) else None
    nc = await nats.connect(
        spec.nats_urls,
        connect_timeout=5,
        max_reconnect_attempts=3,
        tls=tls,
        tls_handshake_first=tls is not None,
        nkeys_seed=str(seed) if seed is not None else None,
    )
    try:
        info = await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()
    assert info.cluster is not None, info
    assert info.cluster.leader, info
    return control.nats_name(cluster.index_of(info.cluster.leader))


async def caught_up(client: NodeClient, height: int, timeout: float = 120.0) -> None:
    """Until the node behind ``client`` has committed ``height`` blocks (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(CareLedgerError, httpx.HTTPError):
            if (await client.state()).height >= height:
                return
        assert time.monotonic() < deadline, f"{client} not at height {height} in {timeout} s"
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def small_disk(directory: Path, size_mb: int = 48) -> object:
    """A tmpfs of ``size_mb`` mounted on ``directory`` (which must be empty); None when this
    machine does not let us mount (not root, no CAP_SYS_ADMIN). Unmounted on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        yield mounted.stderr.strip() or f"mount exited {mounted.returncode}"
        return
    try:
        yield None
    finally:
        for args in (["umount", str(directory)], ["umount", "-l", str(directory)]):
            if subprocess.run(args, capture_output=True, check=False).returncode == 0:
                break


async def disk_full(directory: Path, seconds: float) -> int:
    """Fill the filesystem of ``directory`` to the last byte for ``seconds``, then free it.
    Returns the bytes written (bounded by the filesystem's size)."""
    filler = directory / "filler.bin"
    written = 0
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # big writes, then the last bytes
            while written < 1 << 30:  # a bound, whatever the filesystem says
                try:
                    written += os.write(fd, b"\0" * size)
                except OSError:
                    break
        await asyncio.sleep(seconds)
    finally:
        os.close(fd)
        filler.unlink(missing_ok=True)
    return written


def free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free
