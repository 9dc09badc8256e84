"""NATS over mutual TLS: a 3-server cluster whose client connections and routes require
certificates from the cluster's CA (``NatsCluster(tls_dir=...)``), and clients that bring one
through ``JetStreamSettings.extra = {"tls": context}``."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from cryptography import x509

from careledger.errors import CareLedgerError, OrderingError
from careledger.netctl.nats_cluster import NatsCluster, NatsUnavailable, free_port
from careledger.ordering.jetstream import JetStreamOrdering
from careledger.ordering.jetstream_streams import (
    JetStreamSettings,
    connect,
    denied_subjects,
    ensure_streams,
    publish,
)
from careledger.tls import client_context, issue_certificate, make_local_ca
from tests.harness import new_consortium
from tests.ordering.conftest import own_cluster
from tests.ordering.jsnet import (
    approve_contract,
    assert_same_chain,
    balances_of,
    jetstream_network,
    open_accounts,
    settings_for,
)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    base = tmp_path_factory.mktemp("nats-tls")
    with own_cluster(base / "nats", 3, tls_dir=base / "tls") as cluster:
        yield cluster


def unstarted(base_dir: Path, tls_dir: Path | None = None) -> NatsCluster:
    """A 3-server cluster on fixed ports that is never started (configuration only)."""
    try:
        return NatsCluster(
            3,
            base_dir,
            ports=[(14222 + i, 16222 + i, 18222 + i) for i in range(3)],
            tls_dir=tls_dir,
        )
    except NatsUnavailable as exc:
        pytest.skip(str(exc))


def monitor(cluster: NatsCluster, index: int, endpoint: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{cluster.specs[index].monitor_port}/{endpoint}"
    with urllib.request.urlopen(url, timeout=2) as resp:
        body: dict[str, Any] = json.load(resp)
        return body


# -- configuration ------------------------------------------------------------------------------
def test_without_tls_dir_the_configuration_is_plain(tmp_path: Path) -> None:
    cluster = unstarted(tmp_path)
    assert cluster.config_text(0) == (
        "server_name: n0\n"
        "listen: 127.0.0.1:14222\n"
        "http: 127.0.0.1:18222\n"
        "max_payload: 8MB\n"
        "jetstream {\n"
        f'  store_dir: "{tmp_path}/n0"\n'
        "  sync_interval: always\n"
        "  max_file_store: 1G\n"
        "  max_memory_store: 64M\n"
        "}\n"
        "cluster {\n"
        "  name: careledger\n"
        "  listen: 127.0.0.1:16222\n"
        "  routes: [nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223, "
        "nats-route://127.0.0.1:16224]\n"
        "}\n"
    )
    assert cluster.urls == [f"nats://127.0.0.1:{14222 + i}" for i in range(3)]
    with pytest.raises(CareLedgerError, match="without TLS"):
        cluster.client_tls()


def test_with_tls_dir_clients_and_routes_require_certificates(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    cluster = unstarted(tmp_path / "nats", tls)
    files = f'cert_file: "{tls}/n1.crt"', f'key_file: "{tls}/n1.key"', f'ca_file: "{tls}/ca.crt"'
    text = cluster.config_text(1)
    client_block = ["tls {", *files, "verify: true", "handshake_first: true", "timeout: 2", "}"]
    route_block = ["tls {", *files, "timeout: 2", "}"]
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("tls {")
    assert lines[start : start + len(client_block)] == client_block
    routes = lines.index("cluster {")
    assert start < routes, "the client block is at the top level, not in cluster {}"
    inner = lines.index("tls {", routes)
    assert lines[inner : inner + len(route_block)] == route_block
    assert lines[inner + len(route_block)] == "}", "the route block closes cluster {}"
    assert "routes: [nats-route://127.0.0.1:16222," in text
    assert "http: 127.0.0.1:18223\n" in text, "the monitoring port stays plain HTTP"
    assert cluster.urls == [f"tls://127.0.0.1:{14222 + i}" for i in range(3)]


def test_a_cluster_keeps_its_ca_and_issues_server_certificates(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    unstarted(tmp_path / "nats", tls).write_config(0)
    ca_pem = (tls / "ca.crt").read_bytes()
    # A cluster brought back on the same directory (another object) reuses the CA.
    again = unstarted(tmp_path / "nats", tls)
    again.write_config(1)
    assert (tls / "ca.crt").read_bytes() == ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem)
    for name in ("n0", "n1"):
        cert = x509.load_pem_x509_certificate((tls / f"{name}.crt").read_bytes())
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert not (tls / "n2.crt").exists(), "a server's certificate is issued with its config"
    client = again.client_tls_files()
    x509.load_pem_x509_certificate(client.cert.read_bytes()).verify_directly_issued_by(ca)
    assert isinstance(again.client_tls(), ssl.SSLContext)
    # The client certificate in tls_dir is reused while the CA that issued it is the cluster's.
    client_pem = client.cert.read_bytes()
    assert unstarted(tmp_path / "nats", tls).client_tls_files().cert.read_bytes() == client_pem
    make_local_ca(tls)  # someone replaced the CA: a new client certificate from it
    renewed = unstarted(tmp_path / "nats", tls).client_tls_files()
    assert renewed.cert.read_bytes() != client_pem
    # Half a CA is refused rather than overwritten.
    (tls / "ca.key").unlink()
    with pytest.raises(CareLedgerError, match="half a CA"):
        unstarted(tmp_path / "nats", tls).write_config(2)


# -- a running cluster --------------------------------------------------------------------------
def test_a_jetstream_network_commits_over_mutual_tls(
    tls_cluster: NatsCluster, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = new_consortium(tmp_path / "consortium")
        settings = settings_for(tls_cluster, extra={"tls": tls_cluster.client_tls()})
        assert all(url.startswith("tls://127.0.0.1:") for url in settings.servers)
        async with jetstream_network(config, settings) as net:
            await approve_contract(net, "tokens")
            await open_accounts(net, {"alice": 50, "bob": 0})
            await net.gateway("Org1").submit("tokens", "transfer", ["alice", "bob", 20])
            await net.settle()
            for org in config.org_ids:
                assert await balances_of(net, ["alice", "bob"], org) == [30, 20]
            assert len(assert_same_chain(net)) >= 3
            leader = await tls_cluster.stream_leader(settings.tx_stream)
            assert leader in {spec.name for spec in tls_cluster.specs}
            # Every connection of the network (3 peers, 2 replicas) is TLS.
            connz = [
                await asyncio.to_thread(monitor, tls_cluster, i, "connz")
                for i in range(tls_cluster.size)
            ]
            ours = [
                c
                for body in connz
                for c in body["connections"]
                if str(c.get("name", "")).startswith(f"{settings.name}-")
            ]
            assert len(ours) >= 5
            assert all(c.get("tls_version") in ("1.2", "1.3") for c in ours), ours

    asyncio.run(scenario())


def _refused_context(kind: str, cluster: NatsCluster, tmp_path: Path) -> ssl.SSLContext:
    files = cluster.client_tls_files()
    if kind == "no client certificate":
        return client_context(files.ca)
    other_ca, other_key = make_local_ca(tmp_path / "other-ca", "another CA")
    if kind == "trusts another CA":
        return client_context(other_ca, files.cert, files.key)
    # Trusts the cluster's CA but presents a certificate from another CA.
    stranger = issue_certificate(other_ca, other_key, tmp_path / "other-ca", "stranger")
    return client_context(files.ca, stranger.cert, stranger.key)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no client certificate", "client certificate"),
        ("trusts another CA", "does not trust the server's certificate"),
        ("certificate from another CA", "does not accept the client's certificate"),
    ],
)
def test_a_client_the_servers_do_not_accept_fails_fast(
    tls_cluster: NatsCluster, tmp_path: Path, kind: str, message: str
) -> None:
    async def scenario() -> None:
        settings = settings_for(
            tls_cluster, extra={"tls": _refused_context(kind, tls_cluster, tmp_path)}
        )
        started = time.monotonic()
        with pytest.raises(OrderingError, match="cannot connect to NATS") as refused:
            # wait_for only guards the test: connect() itself must give up.
            await asyncio.wait_for(JetStreamOrdering.connect(settings), 30)
        elapsed = time.monotonic() - started
        assert message in str(refused.value)
        assert elapsed < settings.connect_timeout, f"took {elapsed:.2f}s"

    asyncio.run(scenario())


def test_a_tls_client_never_falls_back_to_plaintext(
    nats_cluster: NatsCluster, tls_cluster: NatsCluster
) -> None:
    """nats-py 2.16 speaks plaintext to a server that does not ask for TLS, whatever the URL
    (nats-io/nats.py#912); with the TLS handshake first, a plaintext server is an error."""
    plain = [url.replace("nats://", "tls://") for url in nats_cluster.urls]

    async def scenario() -> None:
        settings = settings_for(
            nats_cluster, servers=plain, extra={"tls": tls_cluster.client_tls()}
        )
        with pytest.raises(OrderingError, match="cannot connect to NATS"):
            await asyncio.wait_for(JetStreamOrdering.connect(settings), 30)

    asyncio.run(scenario())


def test_routes_form_over_tls_and_a_restarted_server_rejoins(tls_cluster: NatsCluster) -> None:
    def routes_and_tls(index: int) -> tuple[set[str], dict[str, Any]]:
        varz = monitor(tls_cluster, index, "varz")
        routez = monitor(tls_cluster, index, "routez")
        return {r["remote_name"] for r in routez["routes"]}, varz

    names = {spec.name for spec in tls_cluster.specs}
    for i, spec in enumerate(tls_cluster.specs):
        remotes, varz = routes_and_tls(i)
        assert remotes == names - {spec.name}
        flags = [varz[k] for k in ("tls_required", "tls_verify")]
        flags += [varz["cluster"][k] for k in ("tls_required", "tls_verify")]
        assert flags == [True] * 4, "clients and routes: TLS required, certificates verified"
    # Restarted (a new certificate from the same CA), a server rejoins; healthz (JetStream
    # current with the meta leader) needs its routes.
    ca_pem = (tls_cluster.server_tls_files("n2").ca).read_bytes()
    tls_cluster.kill(2)
    tls_cluster.restart(2)
    assert tls_cluster.server_tls_files("n2").ca.read_bytes() == ca_pem
    deadline = time.monotonic() + 10
    while routes_and_tls(2)[0] != names - {"n2"}:
        assert time.monotonic() < deadline, "n2 did not rejoin its routes"
        time.sleep(0.1)


def test_the_first_connection_gives_up_when_no_server_answers() -> None:
    """Not TLS-specific: every server is tried FIRST_CONNECT_RETRIES + 1 times, then an error."""

    async def scenario() -> None:
        settings = JetStreamSettings(servers=[f"nats://127.0.0.1:{free_port()}"])
        started = time.monotonic()
        with pytest.raises(OrderingError, match=r"cannot connect to NATS.*ConnectionRefused"):
            await asyncio.wait_for(JetStreamOrdering.connect(settings), 30)
        # Three refused tries, 0.2 s apart.
        assert time.monotonic() - started < 3 * settings.connect_timeout

    asyncio.run(scenario())


def test_certificate_mapped_users_only_orderers_publish_blocks(tmp_path: Path) -> None:
    """With ``users``, a client is the user its certificate names: a peer-only organisation
    cannot publish to the blocks subject, nobody may delete a stream, and a certificate from
    the right CA naming no user is refused."""
    settings = JetStreamSettings(servers=["tls://-"], channel="perm")
    users = {
        "client": [],
        "Org1": denied_subjects(settings, orderer=True),
        "Org3": denied_subjects(settings, orderer=False),
    }
    with own_cluster(tmp_path / "nats", 3, tls_dir=tmp_path / "tls", users=users) as cluster:
        ca, ca_key = cluster.tls_ca()

        def as_org(name: str) -> JetStreamSettings:
            files = issue_certificate(ca, ca_key, tmp_path / "orgs", name)
            context = client_context(ca, files.cert, files.key)
            return settings_for(
                cluster, channel="perm", publish_timeout=1.0, extra={"tls": context}
            )

        async def scenario() -> None:
            orderer = await connect(as_org("Org1"), "orderer")
            peer = await connect(as_org("Org3"), "peer")
            try:
                js1 = orderer.jetstream(timeout=2)
                await ensure_streams(js1, as_org("Org1"))
                await publish(js1, settings.blocks_subject, b"block", {}, 1.0)
                js3 = peer.jetstream(timeout=2)
                await publish(js3, settings.tx_subject, b"tx", {}, 1.0)  # peers submit
                with pytest.raises((TimeoutError, nats.errors.Error)):
                    await publish(js3, settings.blocks_subject, b"forged", {}, 1.0)
                for js in (js1, js3):
                    for stream in (settings.blocks_stream, settings.tx_stream):
                        with pytest.raises((TimeoutError, nats.errors.Error)):
                            await asyncio.wait_for(js.delete_stream(stream), 2)
                info = await asyncio.wait_for(js1.stream_info(settings.blocks_stream), 2)
                assert info.state.messages == 1  # the orderer's block only
            finally:
                await orderer.close()
                await peer.close()
            with pytest.raises(OrderingError, match="cannot connect to NATS"):
                await connect(as_org("Org9"), "stranger")

        asyncio.run(scenario())
