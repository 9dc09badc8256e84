"""One organisation's node as a process: peer, gateway, ordering client and the HTTP API.

``careledger node start --config org1.toml`` calls :func:`run_node`, which runs a
:class:`NodeProcess` until SIGTERM or SIGINT, then stops it cleanly: event streams end, the API
stops accepting requests, ordering is closed and the peer closes its stores. Tests run several
:class:`NodeProcess` objects in one event loop, optionally sharing one in-memory orderer.

Ordering backends (``[ordering] backend``):

* ``jetstream``: the consortium's NATS JetStream streams (:mod:`careledger.ordering.jetstream`);
  with ``replica = true`` the node also runs its organisation's orderer replica, signing blocks
  as ``orderer0``.
* ``embedded-solo``: a solo orderer inside this node. Other nodes cannot reach it, so it is for a
  single-node network (tests, demos) only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from careledger.api.app import create_app
from careledger.api.client import RemoteEndorser
from careledger.api.server import ApiServer
from careledger.api.service import NodeService
from careledger.contracts.registry import ContractRegistry, default_registry
from careledger.crypto.keys import BatchVerifier
from careledger.errors import StorageError
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.state.base import StateStore
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.node.config import NodeConfig, OrderingSettings, StateSettings, load_node_config
from careledger.node.consortium import ConsortiumConfig, load_config
from careledger.node.gateway import Endorser, Gateway, LocalEndorser
from careledger.node.peer import Peer
from careledger.ordering.base import OrderingService
from careledger.ordering.solo import SoloOrderer

log = logging.getLogger("careledger.node")

#: Seconds a node waits for its peer to commit the genesis block before serving.
GENESIS_TIMEOUT = 30.0


def open_state(settings: StateSettings, data_dir: Path) -> StateStore:
    if settings.backend == "postgres":
        from careledger.ledger.state.postgres import PostgresStateStore

        return PostgresStateStore(settings.dsn, settings.schema)
    return SQLiteStateStore(data_dir / "state.db")


async def open_ordering(
    settings: OrderingSettings, consortium: ConsortiumConfig, peer: Peer
) -> OrderingService:
    """The ordering service a node delivers blocks from and its gateway broadcasts to."""
    if settings.backend == "embedded-solo":
        genesis = consortium.genesis()
        return SoloOrderer(
            consortium.orderer_identity(),
            height=peer.blocks.height(),
            last_hash=peer.blocks.last_hash() or b"",
            config=consortium.cutter,
            genesis=genesis,
        )
    try:
        from careledger.ordering.jetstream import JetStreamOrdering
    except ModuleNotFoundError as exc:
        raise NotImplementedError(
            "ordering backend 'jetstream' is not available: careledger.ordering.jetstream is not "
            "installed yet. Use ordering.backend = 'embedded-solo' for a single-node network."
        ) from exc
    return await JetStreamOrdering.connect(jetstream_settings(settings), role=f"{peer.org}-peer")


def jetstream_settings(settings: OrderingSettings) -> Any:
    """The jetstream backend's settings for this node's ``[ordering]`` table."""
    from careledger.ordering.jetstream_streams import JetStreamSettings

    # A node lists every server of the cluster, so their number is the stream replication.
    return JetStreamSettings(
        servers=list(settings.servers),
        channel=settings.channel,
        replicas=min(3, len(settings.servers)),
    )


async def start_replica(settings: OrderingSettings, consortium: ConsortiumConfig, org: str) -> Any:
    """This organisation's orderer replica (``[ordering] replica = true``, jetstream only)."""
    from careledger.ordering.jetstream import JetStreamOrderer

    replica = JetStreamOrderer(
        jetstream_settings(settings),
        consortium.member(org, "orderer0"),
        consortium.genesis(),
        consortium.cutter,
    )
    await replica.start()
    return replica


class NodeProcess:
    """Start with ``await node.start()``; ``await node.stop()`` always, even after a failure."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        ordering: OrderingService | None = None,
        registry: ContractRegistry | None = None,
        commit_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.registry = registry or default_registry()
        self.commit_timeout = commit_timeout
        self._shared_ordering = ordering
        self.ordering: OrderingService | None = ordering
        self.peer: Peer | None = None
        self.service: NodeService | None = None
        self.server: ApiServer | None = None
        self._verifier: BatchVerifier | None = None
        self._remotes: list[RemoteEndorser] = []
        self._peer_task: asyncio.Task[None] | None = None
        self._replica: Any = None

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the node first"
        return self.server.url

    async def start(self) -> None:
        cfg = self.config
        consortium = load_config(cfg.consortium)
        identity = consortium.member(cfg.org, cfg.member)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self._verifier = BatchVerifier()
        blocks = BlockStore(cfg.data_dir / "blocks.log")
        try:
            state = open_state(cfg.state, cfg.data_dir)
        except BaseException:
            blocks.close()
            raise
        self.peer = peer = Peer(identity, state, blocks, self.registry, self._verifier)
        genesis = consortium.genesis().header.hash()
        if blocks.height() and blocks.get(0).header.hash() != genesis:
            raise StorageError(f"{cfg.data_dir} holds a chain of another consortium")
        if self.ordering is None:
            if cfg.ordering.backend == "jetstream" and cfg.ordering.replica:
                self._replica = await start_replica(cfg.ordering, consortium, cfg.org)
            self.ordering = await open_ordering(cfg.ordering, consortium, peer)
        endorsers: dict[str, Endorser] = {cfg.org: LocalEndorser(peer)}
        for org, url in cfg.peers.items():
            remote = RemoteEndorser(org, url)
            self._remotes.append(remote)
            endorsers[org] = remote
        gateway = Gateway(
            identity, peer, endorsers, self.ordering, commit_timeout=self.commit_timeout
        )
        self.service = NodeService(peer, gateway)
        self._peer_task = asyncio.create_task(peer.run(self.ordering))
        await self._wait_genesis()
        self.server = ApiServer(
            create_app(
                self.service,
                max_body_bytes=cfg.http.max_body_bytes,
                did_web_host=cfg.did_web_host,
            ),
            cfg.http.host,
            cfg.http.port,
        )
        await self.server.start()

    async def _wait_genesis(self) -> None:
        assert self.peer is not None
        assert self._peer_task is not None
        async with asyncio.timeout(GENESIS_TIMEOUT):
            while self.peer.height() < 1:
                if self._peer_task.done():
                    self._peer_task.result()
                    raise StorageError("ordering ended before delivering the genesis block")
                await asyncio.sleep(0.01)

    async def wait(self) -> None:
        """Until the API server stops or the peer stops committing (re-raising its error)."""
        assert self.server is not None
        assert self._peer_task is not None
        server = asyncio.ensure_future(self.server.wait())
        try:
            await asyncio.wait({server, self._peer_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.cancel()
        if self._peer_task.done():
            self._peer_task.result()

    async def stop(self) -> None:
        if self.service is not None:
            self.service.close()
        if self.server is not None:
            await self.server.stop()
        if self.ordering is not None and self._shared_ordering is None:
            await self.ordering.close()
        if self._peer_task is not None:
            if self._shared_ordering is not None:
                self._peer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._peer_task, 10)
            if not self._peer_task.cancelled() and self._peer_task.exception() is not None:
                log.error("the peer stopped with an error", exc_info=self._peer_task.exception())
        if self._replica is not None:
            await self._replica.close()
        for remote in self._remotes:
            await remote.aclose()
        if self.peer is not None:
            self.peer.close()
        if self._verifier is not None:
            self._verifier.close()


async def run_node(config_path: str | Path, *, ready: Any = None) -> None:
    """Run the node a config file describes until SIGTERM/SIGINT; ``ready(url)`` once serving."""
    node = NodeProcess(load_node_config(config_path))
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await node.start()
        if ready is not None:
            ready(node.url)
        waiting = asyncio.ensure_future(node.wait())
        stop = asyncio.ensure_future(stopping.wait())
        done, _ = await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stop):
            task.cancel()
        if waiting in done:
            waiting.result()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await node.stop()
