"""Bring a local network up, down, and report its status.

``up`` creates the network on first use (consortium, ports, node configurations), then starts
what is not running: with ``jetstream`` ordering a three-node NATS cluster and the orderer
replicas, then one node process per organisation, and waits until every node answers. Data
stays under the directory, so ``up`` after ``down`` resumes the same chain.

``embedded-solo`` ordering runs the orderer inside a single organisation's node: a one-node
network that needs no NATS, for tests and demos of the process machinery.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import time
from dataclasses import dataclass

import httpx

from careledger.api.client import NodeClient
from careledger.errors import CareLedgerError, InvalidInput
from careledger.netctl import processes
from careledger.netctl.layout import NetworkLayout, NetworkSpec
from careledger.node.config import HttpSettings, NodeConfig, OrderingSettings, save_node_config
from careledger.node.consortium import init_consortium, load_config

#: How a node process is started: ``careledger node start`` without going through the CLI root,
#: so that it does not depend on how the root command is assembled.
NODE_COMMAND = [sys.executable, "-m", "careledger.cli.node", "start", "--config"]
NATS_NODES = 3


@dataclass(frozen=True, slots=True)
class NodeStatus:
    org: str
    url: str
    pid: int | None
    height: int | None = None
    block_height: int | None = None
    state_root: str = ""
    error: str = ""

    @property
    def running(self) -> bool:
        return self.pid is not None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def create(layout: NetworkLayout, orgs: list[str], ordering: str) -> NetworkSpec:
    """Consortium, ports and node configurations for a new network in ``layout.root``."""
    if ordering == "embedded-solo" and len(orgs) != 1:
        raise InvalidInput(
            "embedded-solo ordering runs inside one node and cannot serve several: "
            "use --orgs 1, or jetstream ordering"
        )
    ports = _free_ports(len(orgs) + (NATS_NODES * 2 if ordering == "jetstream" else 0))
    spec = NetworkSpec(
        orgs=list(orgs),
        ordering=ordering,
        node_ports=dict(zip(orgs, ports, strict=False)),
        nats_ports=ports[len(orgs) :],
    )
    init_consortium(layout.consortium, list(orgs))
    servers = tuple(f"nats://127.0.0.1:{p}" for p in spec.nats_ports[:NATS_NODES])
    for org in orgs:
        config = NodeConfig(
            org=org,
            consortium=layout.consortium,
            data_dir=layout.data(org),
            http=HttpSettings(port=spec.node_ports[org]),
            ordering=OrderingSettings(backend=ordering, servers=servers or ("nats://-",)),
            peers={o: spec.url(o) for o in orgs if o != org},
        )
        layout.node_config(org).parent.mkdir(parents=True, exist_ok=True)
        save_node_config(config.validate(), layout.node_config(org))
    layout.save(spec)
    return spec


def _start_ordering(layout: NetworkLayout, spec: NetworkSpec) -> None:
    """The NATS cluster and orderer replicas (jetstream ordering only)."""
    if spec.ordering != "jetstream":
        return
    missing = [
        module
        for module in ("careledger.testing.nats", "careledger.ordering.jetstream")
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise NotImplementedError(
            f"jetstream ordering needs {' and '.join(missing)}, which has not landed yet; "
            "`network up --orgs 1 --ordering embedded-solo` runs a one-node network meanwhile"
        )
    raise NotImplementedError(
        "careledger.testing.nats and careledger.ordering.jetstream exist but netctl does not "
        "start the NATS cluster and orderer replicas yet "
        "(careledger.netctl.control._start_ordering)"
    )


def up(
    layout: NetworkLayout, orgs: list[str] | None, ordering: str, timeout: float = 60
) -> NetworkSpec:
    """Start every process of the network that is not running; create the network first."""
    if layout.exists():
        spec = layout.load()
        if orgs is not None and orgs != spec.orgs:
            raise InvalidInput(
                f"{layout.root} holds a network of {', '.join(spec.orgs)}; "
                "bring it up without --orgs, or use another --dir"
            )
    else:
        spec = create(layout, orgs or ["Org1", "Org2", "Org3"], ordering)
    _start_ordering(layout, spec)
    started: list[str] = []
    for org in spec.orgs:
        if processes.running_pid(layout, org) is None:
            config = str(layout.node_config(org).resolve())
            processes.spawn(layout, org, [*NODE_COMMAND, config], config)
            started.append(org)
    try:
        asyncio.run(_wait_healthy(layout, spec, started, timeout))
    except BaseException:
        for org in started:
            processes.stop(layout, org)
        raise
    return spec


async def _wait_healthy(
    layout: NetworkLayout, spec: NetworkSpec, orgs: list[str], timeout: float
) -> None:
    config = load_config(layout.consortium)
    deadline = time.monotonic() + timeout
    pending = list(orgs)
    while pending:
        org = pending[0]
        pid = processes.running_pid(layout, org)
        code = processes.exited(pid) if pid is not None else None
        if pid is None or code is not None:
            log = layout.log_file(org)
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise CareLedgerError(f"the node of {org} exited while starting; its log:\n{tail}")
        async with NodeClient(spec.url(org), config.member(org, "client0"), timeout=2) as client:
            try:
                await client.health()
                pending.pop(0)
                continue
            except (CareLedgerError, httpx.HTTPError) as exc:  # not listening yet
                if time.monotonic() > deadline:
                    raise CareLedgerError(
                        f"the node of {org} did not become healthy in {timeout} s: {exc!r}"
                    ) from exc
        await asyncio.sleep(0.2)


def down(layout: NetworkLayout) -> list[str]:
    """Stop every process of the network (nodes first); returns the names that were running."""
    spec = layout.load()
    stopped = [org for org in spec.orgs if processes.stop(layout, org)]
    for name in _ordering_names(spec):
        if processes.stop(layout, name):
            stopped.append(name)
    return stopped


def _ordering_names(spec: NetworkSpec) -> list[str]:
    if spec.ordering != "jetstream":
        return []
    return [f"nats{i}" for i in range(NATS_NODES)] + [f"orderer{i}" for i in range(NATS_NODES)]


async def status(layout: NetworkLayout, timeout: float = 5.0) -> list[NodeStatus]:
    """Each node's PID, heights and state root (asked over its API as the org's client0)."""
    spec = layout.load()
    config = load_config(layout.consortium)

    async def one(org: str) -> NodeStatus:
        pid = processes.running_pid(layout, org)
        url = spec.url(org)
        if pid is None:
            return NodeStatus(org, url, None, error="not running")
        try:
            async with NodeClient(url, config.member(org, "client0"), timeout=timeout) as client:
                state = await client.state()
        except Exception as exc:  # a status report shows any failure, whatever its kind
            return NodeStatus(org, url, pid, error=f"{type(exc).__name__}: {exc}")
        return NodeStatus(org, url, pid, state.height, state.block_height, state.state_root)

    return list(await asyncio.gather(*(one(org) for org in spec.orgs)))
