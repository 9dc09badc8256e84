"""Endorsement batched over NATS between node processes on JetStream ordering (one NATS server)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from careledger.api.client import NodeClient
from careledger.bench.network import approve_tokens
from careledger.daemon.config import HttpSettings, NodeConfig, OrderingSettings
from careledger.daemon.process import NodeProcess
from careledger.netctl.layout import NetworkSpec
from careledger.node.consortium import init_consortium
from careledger.node.endorse_batch import BatchingEndorser

nats = pytest.importorskip("careledger.netctl.nats_cluster")

ORGS = ["Org1", "Org2", "Org3"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nodes_endorse_each_other_over_nats(tmp_path: Path) -> None:
    try:
        cluster = nats.NatsCluster(1, tmp_path / "nats")
    except nats.NatsUnavailable as exc:
        pytest.skip(str(exc))
    consortium = init_consortium(tmp_path / "c", ORGS)
    ports = {org: _port() for org in ORGS}
    # Peer URLs point nowhere: endorsement must not use HTTP.
    dead = {org: f"http://127.0.0.1:{_port()}" for org in ORGS}

    def config(org: str) -> NodeConfig:
        return NodeConfig(
            org=org,
            consortium=consortium.dir,
            data_dir=tmp_path / "data" / org,
            http=HttpSettings(port=ports[org]),
            ordering=OrderingSettings(
                backend="jetstream",
                servers=tuple(cluster.urls),
                replica=org == "Org1",
                endorse_transport="nats",
            ),
            peers={o: dead[o] for o in ORGS if o != org},
        )

    async def main() -> None:
        nodes = [NodeProcess(config(org)) for org in ORGS]
        try:
            for node in nodes:
                await node.start()
            spec = NetworkSpec(ORGS, "jetstream", ports)
            admins = {
                org: NodeClient(node.url, consortium.member(org, "admin"))
                for org, node in zip(ORGS, nodes, strict=True)
            }
            try:
                await approve_tokens(spec, admins)
                minted = await asyncio.gather(
                    *(admins["Org2"].submit("tokens", "mint", [f"acct-{c}", 5]) for c in "abcdef")
                )
                assert {m.code for m in minted} == {"VALID"}
                # Org3's node stops: its endorse subject has no responder, so Org2's gateway
                # asks Org1 instead (2 of 3) and every submit still commits.
                stopped = nodes.pop()
                await stopped.stop()
                again = await asyncio.gather(
                    *(admins["Org2"].submit("tokens", "mint", [f"acct-{c}", 1]) for c in "abcdef")
                )
                assert {m.code for m in again} == {"VALID"}
            finally:
                for admin in admins.values():
                    await admin.aclose()
            org2 = nodes[1]
            assert org2._nats_endorsement is not None
            sent = [e for e in org2._nats_endorsement.endorsers.values() if e.requests]
            assert sent
            assert all(isinstance(e, BatchingEndorser) for e in sent)
            # The running peers converge on the same state.
            running = nodes
            target = max(n.peer.height() for n in running if n.peer is not None)
            async with asyncio.timeout(20):
                while any(n.peer is not None and n.peer.height() < target for n in running):
                    await asyncio.sleep(0.02)
            roots = {n.peer.state.state_root() for n in running if n.peer is not None}
            assert len(roots) == 1
        finally:
            for node in nodes:
                await node.stop()

    with cluster:
        asyncio.run(main())
