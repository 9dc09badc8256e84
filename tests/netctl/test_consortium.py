"""A real consortium: `careledger network up --orgs 3` with jetstream ordering.

Three detached ``nats-server`` processes (R3 streams, fsync always), three node processes (Org1
and Org2 also run orderer replicas), a 2-of-3 endorsement policy; everything through the nodes'
HTTP API. The default tests share one network (module fixture) and leave it healthy; the slow
fault tests (``pytest -m slow``) each start their own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from careledger.api.client import sign_proposal
from careledger.api.codec import b64e
from careledger.bench.network import approve_tokens
from careledger.cli.network import network
from careledger.daemon.config import load_node_config
from careledger.errors import CareLedgerError, OrderingError
from careledger.netctl import control, processes
from careledger.netctl.layout import NetworkLayout
from careledger.netctl.nats_cluster import NatsUnavailable, find_nats_server
from careledger.node.consortium import load_config
from tests.netctl.consortium import (
    Ledger,
    admins,
    check_exactly_once,
    converged,
    kill,
    load,
    restart,
)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(directory: Path) -> NetworkLayout:
    try:
        find_nats_server()
    except NatsUnavailable as exc:
        pytest.skip(str(exc))
    up = CliRunner().invoke(network, ["up", "--dir", str(directory), "--orgs", "3"])
    assert up.exit_code == 0, up.output
    return NetworkLayout(directory)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkLayout]:
    directory = tmp_path_factory.mktemp("consortium")
    try:
        layout = _start(directory)

        async def approve() -> None:
            async with AsyncExitStack() as stack:
                await approve_tokens(layout.load(), await admins(stack, layout))

        asyncio.run(approve())
        yield layout
    finally:
        if (directory / "network.toml").exists():
            control.down(NetworkLayout(directory))


@pytest.fixture
def own_net(tmp_path: Path) -> Iterator[NetworkLayout]:
    try:
        layout = _start(tmp_path / "net")

        async def approve() -> None:
            async with AsyncExitStack() as stack:
                await approve_tokens(layout.load(), await admins(stack, layout))

        asyncio.run(approve())
        yield layout
    finally:
        if (tmp_path / "net" / "network.toml").exists():
            control.down(NetworkLayout(tmp_path / "net"))


def test_layout_of_a_consortium(net: NetworkLayout) -> None:
    spec = net.load()
    assert len(spec.nats) == 3
    assert spec.orderers == ["Org1", "Org2"]
    replicas = []
    for org in spec.orgs:
        config = load_node_config(net.node_config(org))
        assert config.ordering.backend == "jetstream"
        assert list(config.ordering.servers) == spec.nats_urls
        if config.ordering.replica:
            replicas.append(org)
    assert replicas == ["Org1", "Org2"]  # orderer replicas of two organisations
    for i, ports in enumerate(spec.nats):
        conf = (net.nats / f"n{i}.conf").read_text()
        assert "sync_interval: always" in conf
        assert f"listen: 127.0.0.1:{ports.client}" in conf
        assert f"http: 127.0.0.1:{ports.monitor}" in conf
        assert (net.nats / f"n{i}" / "jetstream").is_dir()
        pid = processes.running_pid(net, f"nats{i}")
        assert pid is not None
        assert str(net.nats.resolve() / f"n{i}.conf") in Path(f"/proc/{pid}/cmdline").read_text(
            errors="replace"
        ).replace("\0", " ")
    status = CliRunner().invoke(network, ["status", "--dir", str(net.root), "--json"])
    assert status.exit_code == 0, status.output
    doc = json.loads(status.output)
    assert [s["healthy"] for s in doc["nats"]] == [True, True, True]
    assert len({(n["height"], n["state_root"]) for n in doc["nodes"]}) == 1

    async def streams() -> None:
        import nats

        nc = await nats.connect(spec.nats_urls)
        try:
            for name in ("CARELEDGER_TX", "CARELEDGER_BLOCKS"):
                info = await nc.jetstream().stream_info(name)
                assert info.config.num_replicas == 3
                assert info.cluster is not None
                assert info.cluster.leader
        finally:
            await nc.close()

    asyncio.run(streams())


def test_submit_converge_down_up_resumes(net: NetworkLayout) -> None:
    spec = net.load()
    config = load_config(net.consortium)
    ledger = Ledger()

    async def submit_everywhere() -> tuple[int, str]:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, net)
            # 2-of-3: each submission is endorsed by the submitting org and one other.
            assert "2 OF" in json.dumps(
                await clients["Org1"].evaluate("_gov", "contract", ["tokens"])
            )
            for round_ in range(3):
                outs = await asyncio.gather(
                    *(
                        clients[org].submit("tokens", "mint", [f"acct-{org}", 10 + round_])
                        for org in spec.orgs
                    )
                )
                ledger.acked.extend(o.tx_id for o in outs)
            target = await clients["Org2"].submit("tokens", "mint", ["x", 5])
            ledger.acked.append(target.tx_id)
            # The same signed transaction through two gateways at once: committed once.
            proposal, signature = sign_proposal(
                config.member("Org1", "client0"), "tokens", "transfer", ["acct-Org1", "x", 1]
            )
            both = await asyncio.gather(
                clients["Org1"].submit_signed(proposal, signature),
                clients["Org2"].submit_signed(proposal, signature),
                return_exceptions=True,
            )
            ok = [r for r in both if not isinstance(r, BaseException)]
            assert ok, both
            ledger.acked.append(ok[0].tx_id)
            for r in both:
                if isinstance(r, BaseException):  # refused as a duplicate, or already committed
                    assert isinstance(r, CareLedgerError), r
            await check_exactly_once(spec, clients, ledger.acked)
            counts = [await clients[o].evaluate("tokens", "balance", ["x"]) for o in spec.orgs]
            assert counts == [6, 6, 6]
            return await converged(spec, clients)

    height, root = asyncio.run(submit_everywhere())
    pids = {
        name: processes.running_pid(net, name) for name in [*spec.orgs, "nats0", "nats1", "nats2"]
    }
    runner = CliRunner()
    down = runner.invoke(network, ["down", "--dir", str(net.root)])
    assert down.exit_code == 0, down.output
    for name, pid in pids.items():
        assert pid is not None, name
        assert not _alive(pid), name
        assert not net.pid_file(name).exists()
    stopped = runner.invoke(network, ["status", "--dir", str(net.root)])
    assert stopped.exit_code == 1

    up = runner.invoke(network, ["up", "--dir", str(net.root)])
    assert up.exit_code == 0, up.output
    assert net.load() == spec  # same ports, same servers

    async def after() -> None:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, net)
            assert await converged(spec, clients) == (height, root)
            balances = [
                await clients[o].evaluate("tokens", "balance", [f"acct-{o}"]) for o in spec.orgs
            ]
            assert balances == [10 + 11 + 12 - 1, 33, 33]
            out = await clients["Org3"].submit("tokens", "mint", ["acct-Org3", 1])
            assert out.block >= height  # the chain continues from where it was
            ledger.acked.append(out.tx_id)
            await check_exactly_once(spec, clients, ledger.acked)

    asyncio.run(after())


def test_nats_quorum_lost_is_503_then_service_returns(net: NetworkLayout) -> None:
    spec = net.load()
    config = load_config(net.consortium)
    ledger = Ledger()
    kill(net, "nats1")
    kill(net, "nats2")

    async def no_quorum() -> float:
        proposal, signature = sign_proposal(
            config.member("Org1", "admin"), "tokens", "mint", ["q-1", 1]
        )
        body = {"proposal": b64e(proposal), "signature": b64e(signature)}
        async with httpx.AsyncClient(base_url=spec.url("Org1"), timeout=30) as http:
            t0 = time.monotonic()
            response = await http.post("/v1/submit", json=body)
            took = time.monotonic() - t0
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "OrderingError"
        assert "retry" in response.json()["error"]
        return took

    took = asyncio.run(no_quorum())
    assert took < 25  # a clear error after the broadcast timeout (15 s), not a hang
    # The survivor's own /healthz says it lost the meta leader within seconds (how soon is the
    # server's business: seen between 3 and 15 s here).
    deadline = time.monotonic() + 20
    while True:
        status = CliRunner().invoke(network, ["status", "--dir", str(net.root), "--json"])
        assert status.exit_code == 1
        servers = json.loads(status.output)["nats"]
        assert [s["pid"] is not None for s in servers] == [True, False, False]
        assert [s["error"] for s in servers][1:] == ["not running", "not running"]
        if not servers[0]["healthy"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not servers[0]["healthy"]  # running, but JetStream has no quorum

    async def recover() -> None:
        await restart(net)  # `network up` restarts the two servers with their stores
        async with AsyncExitStack() as stack:
            clients = await admins(stack, net)
            deadline = time.monotonic() + 30
            while True:
                try:
                    out = await clients["Org1"].submit("tokens", "mint", ["q-2", 1], retries=0)
                    ledger.acked.append(out.tx_id)
                    break
                except OrderingError:
                    assert time.monotonic() < deadline, "service did not return"
            await check_exactly_once(spec, clients, ledger.acked)

    asyncio.run(recover())


@pytest.mark.slow
def test_node_killed_under_load_catches_up(own_net: NetworkLayout) -> None:
    layout = own_net
    spec = layout.load()
    ledger = Ledger()

    async def main() -> None:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, layout)
            stop = asyncio.Event()
            # Org1 and Org2 endorse each other (2 of 3), so they keep serving without Org3.
            task = asyncio.create_task(
                load([clients["Org1"], clients["Org2"]], ledger, stop, "kill")
            )
            await asyncio.sleep(3)
            await asyncio.to_thread(kill, layout, "Org3")
            before = len(ledger.acked)
            await asyncio.sleep(3)
            assert len(ledger.acked) > before  # the others kept committing
            await restart(layout)
            await asyncio.sleep(2)
            stop.set()
            await task
            height = await check_exactly_once(spec, clients, ledger.acked)
            assert height > 5

    asyncio.run(main())
    assert len(ledger.acked) > 20, ledger


@pytest.mark.slow
def test_orderer_replica_node_killed_other_keeps_cutting(own_net: NetworkLayout) -> None:
    layout = own_net
    spec = layout.load()
    ledger = Ledger()

    async def main() -> None:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, layout)
            stop = asyncio.Event()
            # Org3's gateway asks Org3 and Org1 to endorse: it does not need Org2's node.
            task = asyncio.create_task(load([clients["Org3"]], ledger, stop, "replica"))
            await asyncio.sleep(2)
            await asyncio.to_thread(kill, layout, "Org2")  # Org2's orderer replica dies too
            height0 = (await clients["Org3"].state()).height
            before = len(ledger.acked)
            await asyncio.sleep(4)
            assert len(ledger.acked) > before + 5  # Org1's replica alone cuts the blocks
            assert (await clients["Org3"].state()).height > height0 + 2
            await restart(layout)
            await asyncio.sleep(2)
            stop.set()
            await task
            await check_exactly_once(spec, clients, ledger.acked)

    asyncio.run(main())


@pytest.mark.slow
def test_both_replicas_race_while_load_runs_through_every_gateway(
    own_net: NetworkLayout,
) -> None:
    layout = own_net
    spec = layout.load()
    ledger = Ledger()

    async def main() -> None:
        async with AsyncExitStack() as stack:
            clients = await admins(stack, layout)
            stop = asyncio.Event()
            task = asyncio.create_task(load(list(clients.values()), ledger, stop, "all", 6))
            await asyncio.sleep(6)
            stop.set()
            await task
            assert not ledger.failures, ledger.failures
            await check_exactly_once(spec, clients, ledger.acked)

    asyncio.run(main())
    assert len(ledger.acked) > 50
