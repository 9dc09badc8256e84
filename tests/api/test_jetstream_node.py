"""A node on JetStream ordering, running its organisation's orderer replica (one NATS server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from careledger.api.client import NodeClient
from careledger.bench.network import approve_tokens
from careledger.daemon.config import HttpSettings, NodeConfig, OrderingSettings
from careledger.daemon.process import NodeProcess
from careledger.netctl.layout import NetworkSpec
from careledger.node.consortium import init_consortium

nats = pytest.importorskip("careledger.netctl.nats_cluster")


def test_node_orders_through_jetstream(tmp_path: Path) -> None:
    try:
        cluster = nats.NatsCluster(1, tmp_path / "nats")
    except nats.NatsUnavailable as exc:
        pytest.skip(str(exc))
    consortium = init_consortium(tmp_path / "c", ["Org1"])
    config = NodeConfig(
        org="Org1",
        consortium=consortium.dir,
        data_dir=tmp_path / "data",
        http=HttpSettings(port=0),
        ordering=OrderingSettings(backend="jetstream", servers=tuple(cluster.urls), replica=True),
    )

    async def main() -> None:
        node = NodeProcess(config)
        try:
            await node.start()
            spec = NetworkSpec(["Org1"], "jetstream", {"Org1": 0})
            async with NodeClient(node.url, consortium.member("Org1", "admin")) as admin:
                await approve_tokens(spec, {"Org1": admin})
                minted = await admin.submit("tokens", "mint", ["acct-1", 5])
                assert minted.code == "VALID"
                assert (await admin.state()).height == minted.block + 1
        finally:
            await node.stop()

    with cluster:
        asyncio.run(main())
