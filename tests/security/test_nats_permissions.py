"""NATS permissions without TLS: every network's NATS users are nkeys, one per organisation.

A real 3-server cluster with nkey users (what ``network up`` writes without ``--tls``): a
non-orderer organisation cannot publish to the blocks subject, nobody can delete or purge the
ledger's streams, and a client without a listed seed cannot connect. Then ``network up`` itself:
the seeds are in each organisation's directory, 0600, and the nodes run on them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from click.testing import CliRunner

from careledger.cli.network import network
from careledger.daemon.config import load_node_config
from careledger.errors import OrderingError
from careledger.netctl import control
from careledger.netctl.layout import NetworkLayout
from careledger.netctl.nats_cluster import (
    NatsCluster,
    NatsUnavailable,
    find_nats_server,
)
from careledger.netctl.nats_credentials import new_user_seed
from careledger.ordering.jetstream_streams import (
    JetStreamSettings,
    connect,
    denied_subjects,
    ensure_streams,
    publish,
)
from tests.ordering.conftest import own_cluster

CHANNEL = "perm"


@pytest.fixture
def seeds(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / "seeds" / f"{name}.nk" for name in ("Org1", "Org3", "stranger")}
    for path in paths.values():
        new_user_seed(path)
    return paths


@pytest.fixture
def nkey_cluster(tmp_path: Path, seeds: dict[str, Path]) -> Iterator[NatsCluster]:
    settings = JetStreamSettings(servers=["nats://-"], channel=CHANNEL)
    nkeys = {
        new_user_seed(seeds["Org1"]): denied_subjects(settings, orderer=True),
        new_user_seed(seeds["Org3"]): denied_subjects(settings, orderer=False),
    }
    with own_cluster(tmp_path / "nats", nkeys=nkeys, client_seed=seeds["Org1"]) as cluster:
        yield cluster


async def _allowed(js: Any, subject: str, payload: bytes) -> None:
    """A publish the user may make, retried while a just-created R3 stream elects its leader
    (on a loaded machine it answers "no responders" for a moment)."""
    async with asyncio.timeout(30):
        while True:
            try:
                await publish(js, subject, payload, {}, 1.0)
                return
            except (nats.errors.Error, OrderingError, TimeoutError):  # no responders / no
                await asyncio.sleep(0.2)  # stream response while the leader is elected


def test_nkey_users_only_orderers_publish_blocks_nobody_deletes_or_purges(
    nkey_cluster: NatsCluster, seeds: dict[str, Path]
) -> None:
    config = nkey_cluster.config_text(0)
    assert 'nkey: "U' in config
    assert all(p.read_text().strip() not in config for p in seeds.values())  # no secret in it
    settings = JetStreamSettings(servers=nkey_cluster.urls, channel=CHANNEL, replicas=3)

    def as_org(seed: Path | None) -> JetStreamSettings:
        extra = {} if seed is None else {"nkeys_seed": str(seed)}
        return JetStreamSettings(
            servers=nkey_cluster.urls, channel=CHANNEL, publish_timeout=1.0, extra=extra
        )

    async def scenario() -> None:
        orderer = await connect(as_org(seeds["Org1"]), "orderer")
        peer = await connect(as_org(seeds["Org3"]), "peer")
        try:
            js1 = orderer.jetstream(timeout=2)
            await ensure_streams(js1, as_org(seeds["Org1"]))
            await _allowed(js1, settings.blocks_subject, b"block")
            js3 = peer.jetstream(timeout=2)
            await _allowed(js3, settings.tx_subject, b"tx")  # peers submit
            with pytest.raises((TimeoutError, nats.errors.Error)):
                await publish(js3, settings.blocks_subject, b"forged", {}, 1.0)
            for js in (js1, js3):
                for stream in (settings.blocks_stream, settings.tx_stream):
                    with pytest.raises((TimeoutError, nats.errors.Error)):
                        await asyncio.wait_for(js.delete_stream(stream), 2)
                    with pytest.raises((TimeoutError, nats.errors.Error)):
                        await asyncio.wait_for(js.purge_stream(stream), 2)
            info = await asyncio.wait_for(js1.stream_info(settings.blocks_stream), 2)
            assert info.state.messages == 1  # the orderer's block only
            shrunk = dataclasses.replace(info.config, max_msgs=1)
            for js in (js1, js3):  # nor reconfigure one (here: to keep one message only)
                with pytest.raises((TimeoutError, nats.errors.Error)):
                    await asyncio.wait_for(js.update_stream(shrunk), 2)
            tx = await asyncio.wait_for(js1.stream_info(settings.tx_stream), 2)
            assert tx.state.messages == 1
        finally:
            await orderer.close()
            await peer.close()
        for seed in (None, seeds["stranger"]):  # anonymous, and a seed no rule lists
            with pytest.raises(OrderingError, match="cannot connect to NATS"):
                await connect(as_org(seed), "intruder")
        assert (await nkey_cluster.stream_leader(settings.blocks_stream)).startswith("n")

    asyncio.run(scenario())


def test_network_up_gives_each_organisation_a_private_nkey(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsUnavailable as exc:
        pytest.skip(str(exc))
    directory = tmp_path / "net"
    runner = CliRunner()
    up = runner.invoke(network, ["up", "--dir", str(directory), "--orgs", "3"])
    try:
        assert up.exit_code == 0, up.output
        layout = NetworkLayout(directory)
        spec = layout.load()
        assert spec.orderers == ["Org1", "Org2"]
        seeds = {}
        for org in spec.orgs:
            seed = Path(load_node_config(layout.node_config(org)).ordering.nkey_seed)
            assert seed == (layout.consortium / "orgs" / org / "nats.nk").resolve()
            assert stat.S_IMODE(seed.stat().st_mode) == 0o600
            seeds[org] = seed
        assert stat.S_IMODE((layout.consortium / "orgs" / "Org3").stat().st_mode) == 0o700
        channel = load_node_config(layout.node_config("Org1")).ordering.channel

        def as_org(seed: Path | None) -> JetStreamSettings:
            extra = {} if seed is None else {"nkeys_seed": str(seed)}
            return JetStreamSettings(
                servers=spec.nats_urls, channel=channel, publish_timeout=1.0, extra=extra
            )

        async def scenario() -> None:
            peer = await connect(as_org(seeds["Org3"]), "peer")
            try:
                js = peer.jetstream(timeout=2)
                settings = as_org(None)
                before = await asyncio.wait_for(js.stream_info(settings.blocks_stream), 2)
                with pytest.raises((TimeoutError, nats.errors.Error)):
                    await publish(js, settings.blocks_subject, b"forged", {}, 1.0)
                with pytest.raises((TimeoutError, nats.errors.Error)):
                    await asyncio.wait_for(js.purge_stream(settings.blocks_stream), 2)
                after = await asyncio.wait_for(js.stream_info(settings.blocks_stream), 2)
                assert after.state.messages == before.state.messages >= 1
            finally:
                await peer.close()
            with pytest.raises(OrderingError, match="cannot connect to NATS"):
                await connect(as_org(None), "anonymous")

        asyncio.run(scenario())
        statuses = asyncio.run(control.status(layout))
        assert all(s.height is not None and s.height >= 1 for s in statuses), statuses
        # No process of the network logged a seed (nodes, NATS servers).
        logs = [layout.log_file(name) for name in [*spec.orgs, "nats0", "nats1", "nats2"]]
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        assert text
        assert [org for org, seed in seeds.items() if seed.read_text().strip() in text] == []
    finally:
        if (directory / "network.toml").exists():
            control.down(NetworkLayout(directory))
