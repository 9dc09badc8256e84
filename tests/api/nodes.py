"""Running organisations' nodes in one process, each with its own real HTTP server.

The nodes share one in-memory solo orderer (the only ordering that needs no servers); each
node's gateway reaches the other organisations' nodes over HTTP on 127.0.0.1, so endorsement
crosses real sockets exactly as between processes.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from careledger.api.app import create_app
from careledger.api.client import NodeClient
from careledger.api.service import NodeService
from careledger.daemon.config import HttpSettings, NodeConfig, OrderingSettings, TlsSettings
from careledger.daemon.process import NodeProcess
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from careledger.ordering.solo import SoloOrderer
from careledger.tls import client_context, local_node_certificates
from tests.harness import ORGS, TOKENS_POLICY, running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    consortium: ConsortiumConfig
    orderer: SoloOrderer
    nodes: dict[str, NodeProcess]
    stack: AsyncExitStack
    clients: dict[tuple[str, str], NodeClient] = field(default_factory=dict)
    verify: ssl.SSLContext | bool = True
    """How clients check the nodes (with TLS: the cluster's CA and a client certificate)."""

    async def client(self, org: str, member: str = "client0", at: str | None = None) -> NodeClient:
        """A client of ``at``'s node (default: its own org's) signing as ``org``.``member``."""
        node = at or org
        key = (f"{org}.{member}", node)
        if key not in self.clients:
            client = NodeClient(
                self.nodes[node].url, self.consortium.member(org, member), verify=self.verify
            )
            self.clients[key] = await self.stack.enter_async_context(client)
        return self.clients[key]


def node_config(
    consortium: ConsortiumConfig, org: str, port: int, peers: dict[str, str]
) -> NodeConfig:
    return NodeConfig(
        org=org,
        consortium=consortium.dir,
        data_dir=consortium.dir / "nodes" / org,
        http=HttpSettings(port=port),
        ordering=OrderingSettings(backend="embedded-solo"),
        peers=peers,
    )


async def approve(cluster: Cluster, name: str, policy: str = TOKENS_POLICY) -> None:
    org1 = await cluster.client("Org1", "admin")
    org2 = await cluster.client("Org2", "admin")
    change = {"name": name, "version": "1.0", "policy": policy}
    proposed = await org1.submit("_gov", "propose", ["contract", change])
    approved = await org2.submit("_gov", "approve", [proposed.result["id"]])
    assert approved.result["status"] == "applied"


def local_tls(directory: Path, orgs: tuple[str, ...]) -> tuple[dict[str, TlsSettings], Any]:
    """A CA, a certificate per organisation's node (mutual TLS required) and a client
    certificate: each node's ``[tls]`` settings, and the clients' SSL context."""
    nodes, client = local_node_certificates(directory, orgs)
    settings = {org: TlsSettings.mutual(files) for org, files in nodes.items()}
    return settings, client_context(client.ca, client.cert, client.key)


@asynccontextmanager
async def cluster(
    consortium: ConsortiumConfig,
    *,
    orgs: tuple[str, ...] = ORGS,
    contracts: tuple[str, ...] = ("tokens",),
    policy: str = TOKENS_POLICY,
    commit_timeout: float = 30.0,
    tls_dir: Path | None = None,
    configure: Callable[[str, NodeConfig], NodeConfig] | None = None,
) -> AsyncIterator[Cluster]:
    """Nodes for ``orgs`` (peers of each other) with ``contracts`` approved. ``tls_dir``: a
    local CA there, HTTPS with mutual TLS between the nodes and for the cluster's clients;
    ``configure(org, config)`` changes a node's configuration before it starts."""
    ports = {org: free_port() for org in orgs}
    scheme = "http" if tls_dir is None else "https"
    urls = {org: f"{scheme}://127.0.0.1:{port}" for org, port in ports.items()}
    tls, verify = local_tls(tls_dir, orgs) if tls_dir is not None else ({}, True)
    orderer = SoloOrderer(
        consortium.orderer_identity(),
        height=0,
        last_hash=b"",
        config=consortium.cutter,
        genesis=consortium.genesis(),
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(orderer.close)
        nodes: dict[str, NodeProcess] = {}
        for org in orgs:
            peers = {o: u for o, u in urls.items() if o != org}
            config = node_config(consortium, org, ports[org], peers)
            if org in tls:
                config = dataclasses.replace(config, tls=tls[org])
            if configure is not None:
                config = configure(org, config)
            node = NodeProcess(config, ordering=orderer, commit_timeout=commit_timeout)
            stack.push_async_callback(node.stop)
            await node.start()
            nodes[org] = node
        result = Cluster(consortium, orderer, nodes, stack, verify=verify)
        for name in contracts:
            await approve(result, name, policy)
        yield result


@asynccontextmanager
async def asgi_node(
    consortium: ConsortiumConfig, *, max_body_bytes: int = 2 * 1024 * 1024
) -> AsyncIterator[tuple[EmbeddedNetwork, Any, Callable[..., NodeClient]]]:
    """Org1's node API over httpx's in-memory ASGI transport, on an embedded network with tokens
    approved: (network, ASGI app, ``client(org, member)`` factory). No sockets: fast tests."""
    async with running(consortium) as net, AsyncExitStack() as stack:
        service = NodeService(net.peers["Org1"], net.gateway("Org1", "peer0"))
        stack.callback(service.close)
        app = create_app(service, max_body_bytes=max_body_bytes)
        transport = httpx.ASGITransport(app=app)

        def client(org: str = "Org1", member: str = "client0") -> NodeClient:
            return NodeClient("http://node", consortium.member(org, member), transport=transport)

        yield net, app, client
