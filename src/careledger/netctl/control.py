"""Bring a local network up, down, and report its status.

``up`` creates the network on first use (consortium, ports, node configurations), then starts
what is not running: with ``jetstream`` ordering a three-server NATS cluster (detached
``nats-server`` processes with the ports fixed in ``network.toml`` and their JetStream stores under
``DIR/nats``), then one node process per organisation (the first two also run their
organisation's orderer replica), and waits until every server and node is healthy. Data stays
under the directory, so ``up`` after ``down`` resumes the same chain and the same streams.

``embedded-solo`` ordering runs the orderer inside a single organisation's node: a one-node
network that needs no NATS, for tests and demos of the process machinery.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from careledger.api.client import NodeClient
from careledger.crypto.keyfiles import secret_file
from careledger.daemon.config import (
    HttpSettings,
    IncentivesSettings,
    NodeConfig,
    OrderingSettings,
    TlsSettings,
    load_node_config,
    save_node_config,
)
from careledger.errors import CareLedgerError, InvalidInput
from careledger.netctl import processes
from careledger.netctl.layout import NatsPorts, NetworkLayout, NetworkSpec
from careledger.netctl.nats_cluster import NatsCluster
from careledger.netctl.nats_credentials import (
    CLIENT_SEED_FILE,
    SEED_FILE,
    new_user_seed,
    public_key,
)
from careledger.node.consortium import init_consortium, load_config
from careledger.node.endorse_nats import endorse_permissions
from careledger.ordering.jetstream_streams import JetStreamSettings, denied_subjects
from careledger.tls import client_context, local_node_certificates

CLIENT_CERT = "client"
"""The certificate the CLI (status, bench) presents to a TLS network's nodes and servers."""

#: How a node process is started: ``careledger node start`` without going through the CLI root,
#: so that it does not depend on how the root command is assembled.
NODE_COMMAND = [sys.executable, "-m", "careledger.cli.node", "start", "--config"]
NATS_NODES = 3
ORDERER_REPLICAS = 2


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


@dataclass(frozen=True, slots=True)
class NatsStatus:
    name: str
    url: str
    pid: int | None
    healthy: bool
    error: str = ""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def orderer_orgs(orgs: list[str]) -> list[str]:
    """Organisations whose node runs an orderer replica: the first two (one for a single org).

    Two replicas from different organisations keep cutting blocks when either one's node is
    down; a third would only add another racer on every block on a small machine."""
    return list(orgs[:ORDERER_REPLICAS])


def create(
    layout: NetworkLayout, orgs: list[str], ordering: str, *, tls: bool = False
) -> NetworkSpec:
    """Consortium, ports and node configurations for a new network in ``layout.root``; with
    ``tls`` a local CA in ``layout.tls`` and a certificate per node (and one for clients)."""
    if ordering == "embedded-solo" and len(orgs) != 1:
        raise InvalidInput(
            "embedded-solo ordering runs inside one node and cannot serve several: "
            "use --orgs 1, or jetstream ordering"
        )
    jetstream = ordering == "jetstream"
    ports = _free_ports(len(orgs) + (NATS_NODES * 3 if jetstream else 0))
    nats_ports = ports[len(orgs) :]
    spec = NetworkSpec(
        orgs=list(orgs),
        ordering=ordering,
        node_ports=dict(zip(orgs, ports, strict=False)),
        nats=[NatsPorts(*nats_ports[i * 3 : i * 3 + 3]) for i in range(len(nats_ports) // 3)],
        orderers=orderer_orgs(orgs) if jetstream else [],
        tls=tls,
    )
    init_consortium(layout.consortium, list(orgs))
    node_tls = _local_tls(layout, orgs) if tls else {}
    servers = tuple(spec.nats_urls)
    seeds = _nats_seeds(layout, spec) if jetstream and not tls else {}
    evidence = incentives_secret(layout)
    for org in orgs:
        auditor = auditor_of(orgs, org)
        config = NodeConfig(
            org=org,
            consortium=layout.consortium,
            data_dir=layout.data(org),
            http=HttpSettings(port=spec.node_ports[org]),
            ordering=OrderingSettings(
                backend=ordering,
                servers=servers or ("nats://-",),
                replica=org in spec.orderers,
                nkey_seed=str(seeds[org].resolve()) if org in seeds else "",
                # Batched CBOR endorsement over NATS (docs/benchmarks.md: measured faster).
                endorse_transport="nats" if jetstream else "http",
            ),
            peers={o: spec.url(o) for o in orgs if o != org},
            tls=node_tls.get(org, TlsSettings()),
            incentives=IncentivesSettings(
                awarder=True,
                cosigner=True,
                evidence_secret_file=str(evidence.resolve()),
                auditor_url=spec.url(auditor) if auditor else "",
            ),
        )
        layout.node_config(org).parent.mkdir(parents=True, exist_ok=True)
        save_node_config(config.validate(), layout.node_config(org))
    layout.save(spec)
    return spec


def incentives_secret(layout: NetworkLayout) -> Path:
    """The incentive evidence secret every node of a local network shares (created 0600): on a
    local network each node awards for its organisation and co-signs as an auditor, and a
    sponsor's and its auditor's digests must agree (docs/incentives.md)."""
    path = layout.root / "incentives" / "evidence.secret"
    secret_file(path, min_bytes=32)
    return path


def auditor_of(orgs: list[str], sponsor: str) -> str | None:
    """The organisation a local network's ``sponsor`` node asks to co-sign awards: the next
    one (None with a single organisation)."""
    if len(orgs) < 2:
        return None
    return orgs[(orgs.index(sponsor) + 1) % len(orgs)]


def _seed_files(layout: NetworkLayout, spec: NetworkSpec) -> dict[str, Path]:
    """Where each organisation's NATS nkey seed is (its own directory), and the CLI's."""
    files = {org: layout.consortium / "orgs" / org / SEED_FILE for org in spec.orgs}
    files[CLIENT_CERT] = layout.nats / CLIENT_SEED_FILE
    return files


def _nats_seeds(layout: NetworkLayout, spec: NetworkSpec) -> dict[str, Path]:
    """A NATS user nkey per organisation and for the CLI's client (mode 0600)."""
    files = _seed_files(layout, spec)
    for path in files.values():
        new_user_seed(path)
    return files


def nats_client_seed(layout: NetworkLayout, spec: NetworkSpec) -> Path | None:
    """The nkey seed the CLI (bench) signs in to the network's NATS servers with, if any."""
    path = _seed_files(layout, spec)[CLIENT_CERT]
    return path if not spec.tls and path.exists() else None


def _local_tls(layout: NetworkLayout, orgs: list[str]) -> dict[str, TlsSettings]:
    """A local CA and a certificate per node (``tls/orgs/<Org>.crt``: mutual TLS required on
    every node API), and the certificate the CLI's clients present (``tls/client.crt``). The
    NATS servers' certificates (``tls/n<i>.crt``) come from the same CA (:class:`NatsCluster`)."""
    nodes, _ = local_node_certificates(layout.tls.resolve(), orgs, client=CLIENT_CERT)
    return {org: TlsSettings.mutual(files) for org, files in nodes.items()}


def client_verify(layout: NetworkLayout, spec: NetworkSpec) -> ssl.SSLContext | bool:
    """How the CLI reaches the network's nodes and NATS servers (with TLS: the network's CA
    and its client certificate)."""
    if not spec.tls:
        return True
    d = layout.tls.resolve()
    return client_context(d / "ca.crt", d / f"{CLIENT_CERT}.crt", d / f"{CLIENT_CERT}.key")


def nats_cluster(layout: NetworkLayout, spec: NetworkSpec) -> NatsCluster:
    """The network's NATS servers as fixed in ``network.toml`` (this object starts nothing).
    Each node is a NATS user: with TLS the one its certificate names (the servers share the
    nodes' CA), without it the one whose nkey seed it holds (:mod:`careledger.netctl.
    nats_credentials`; a network created before nkeys has none and keeps running without).
    Only the organisations running orderer replicas may publish blocks, nobody may delete,
    purge or reconfigure the ledger's streams (the CLI's ``client`` may publish the bench's
    scratch stream)."""
    channel = _channel(layout, spec)
    settings = JetStreamSettings(servers=spec.nats_urls, channel=channel)
    denied = {org: denied_subjects(settings, orderer=org in spec.orderers) for org in spec.orgs}
    denied[CLIENT_CERT] = denied_subjects(settings, orderer=False)
    # Endorse subjects: each node subscribes to its own organisation's only; the CLI client
    # neither publishes nor subscribes to any (careledger.node.endorse_nats).
    no_sub: dict[str, list[str]] = {}
    for name in [*spec.orgs, CLIENT_CERT]:
        endorse = endorse_permissions(channel, spec.orgs, name if name in spec.orgs else None)
        denied[name] = [*denied[name], *endorse["publish"]]
        no_sub[name] = endorse["subscribe"]
    users = denied if spec.tls else None
    subscribe_denied = no_sub if spec.tls else {}
    seeds = _seed_files(layout, spec)
    nkeys = None
    if not spec.tls and all(path.exists() for path in seeds.values()):
        nkeys = {public_key(seeds[name]): deny for name, deny in denied.items()}
        subscribe_denied = {public_key(seeds[name]): no_sub[name] for name in denied}
    return NatsCluster(
        len(spec.nats),
        layout.nats.resolve(),
        ports=[(p.client, p.route, p.monitor) for p in spec.nats],
        tls_dir=layout.tls.resolve() if spec.tls else None,
        users=users,
        nkeys=nkeys,
        client_seed=seeds[CLIENT_CERT].resolve() if nkeys is not None else None,
        subscribe_denied=subscribe_denied,
    )


def _channel(layout: NetworkLayout, spec: NetworkSpec) -> str:
    """The ledger's channel (stream names), from the first node's configuration."""
    return load_node_config(layout.node_config(spec.orgs[0])).ordering.channel


def nats_name(index: int) -> str:
    """The process name (``run/<name>.pid``, ``logs/<name>.log``) of NATS server ``index``."""
    return f"nats{index}"


def _start_ordering(layout: NetworkLayout, spec: NetworkSpec, timeout: float) -> list[str]:
    """Start the NATS servers that are not running (detached, by recorded PID); wait until
    every server reports JetStream healthy. Returns the names started."""
    if spec.ordering != "jetstream":
        return []
    cluster = nats_cluster(layout, spec)
    started: list[str] = []
    try:
        for i in range(cluster.size):
            name = nats_name(i)
            if processes.running_pid(layout, name) is None:
                config = cluster.write_config(i)
                processes.spawn(layout, name, cluster.command(i), str(config))
                started.append(name)
        deadline = time.monotonic() + timeout
        for i in range(cluster.size):
            name = nats_name(i)
            while not cluster.healthy(i):
                pid = processes.running_pid(layout, name)
                if pid is None or processes.exited(pid) is not None:
                    raise CareLedgerError(
                        f"NATS server {name} exited while starting; its log:\n{_tail(layout, name)}"
                    )
                if time.monotonic() > deadline:
                    raise CareLedgerError(
                        f"NATS server {name} not healthy after {timeout} s; its log:\n"
                        f"{_tail(layout, name)}"
                    )
                time.sleep(0.1)
    except BaseException:
        for name in started:
            processes.stop(layout, name)
        raise
    return started


def _tail(layout: NetworkLayout, name: str) -> str:
    log = layout.log_file(name)
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def up(
    layout: NetworkLayout,
    orgs: list[str] | None,
    ordering: str,
    timeout: float = 60,
    *,
    tls: bool | None = None,
) -> NetworkSpec:
    """Start every process of the network that is not running; create the network first
    (``tls``: with mutual TLS; an existing network keeps what it was created with)."""
    if layout.exists():
        spec = layout.load()
        if orgs is not None and orgs != spec.orgs:
            raise InvalidInput(
                f"{layout.root} holds a network of {', '.join(spec.orgs)}; "
                "bring it up without --orgs, or use another --dir"
            )
        if tls is not None and tls != spec.tls:
            raise InvalidInput(
                f"{layout.root} holds a network created {'with' if spec.tls else 'without'} "
                "TLS; bring it up without --tls/--no-tls, or use another --dir"
            )
    else:
        spec = create(layout, orgs or ["Org1", "Org2", "Org3"], ordering, tls=bool(tls))
    started = _start_ordering(layout, spec, timeout)
    try:
        nodes: list[str] = []
        for org in spec.orgs:
            if processes.running_pid(layout, org) is None:
                config = str(layout.node_config(org).resolve())
                processes.spawn(layout, org, [*NODE_COMMAND, config], config)
                started.append(org)
                nodes.append(org)
        asyncio.run(_wait_healthy(layout, spec, nodes, timeout))
    except BaseException:
        # Nodes first, then the servers this call started (running ones are left alone).
        for name in reversed(started):
            processes.stop(layout, name)
        raise
    return spec


async def _wait_healthy(
    layout: NetworkLayout, spec: NetworkSpec, orgs: list[str], timeout: float
) -> None:
    config = load_config(layout.consortium)
    verify = client_verify(layout, spec)
    deadline = time.monotonic() + timeout
    pending = list(orgs)
    while pending:
        org = pending[0]
        pid = processes.running_pid(layout, org)
        code = processes.exited(pid) if pid is not None else None
        if pid is None or code is not None:
            raise CareLedgerError(
                f"the node of {org} exited while starting; its log:\n{_tail(layout, org)}"
            )
        async with NodeClient(
            spec.url(org), config.member(org, "client0"), timeout=2, verify=verify
        ) as client:
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
    """The NATS servers' process names (orderer replicas run inside the nodes)."""
    return [nats_name(i) for i in range(len(spec.nats))] if spec.ordering == "jetstream" else []


async def status(layout: NetworkLayout, timeout: float = 5.0) -> list[NodeStatus]:
    """Each node's PID, heights and state root (asked over its API as the org's client0)."""
    spec = layout.load()
    config = load_config(layout.consortium)
    verify = client_verify(layout, spec)

    async def one(org: str) -> NodeStatus:
        pid = processes.running_pid(layout, org)
        url = spec.url(org)
        if pid is None:
            return NodeStatus(org, url, None, error="not running")
        try:
            async with NodeClient(
                url, config.member(org, "client0"), timeout=timeout, verify=verify
            ) as client:
                state = await client.state()
        except Exception as exc:  # a status report shows any failure, whatever its kind
            return NodeStatus(org, url, pid, error=f"{type(exc).__name__}: {exc}")
        return NodeStatus(org, url, pid, state.height, state.block_height, state.state_root)

    return list(await asyncio.gather(*(one(org) for org in spec.orgs)))


def nats_status(layout: NetworkLayout) -> list[NatsStatus]:
    """Each NATS server's PID and whether it reports JetStream healthy (``/healthz``)."""
    spec = layout.load()
    if spec.ordering != "jetstream":
        return []
    cluster = nats_cluster(layout, spec)
    out: list[NatsStatus] = []
    for i, server in enumerate(cluster.specs):
        pid = processes.running_pid(layout, nats_name(i))
        if pid is None:
            out.append(NatsStatus(nats_name(i), server.url, None, False, "not running"))
            continue
        problem = cluster.health(i)
        out.append(NatsStatus(nats_name(i), server.url, pid, not problem, problem))
    return out
