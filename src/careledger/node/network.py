"""The embedded network: a whole consortium in one process.

One peer per organisation, each with its own block file and SQLite state under
``DIR/data/<Org>``, a solo orderer, and gateways for any member. This is the default for
development, demos, tests and ``careledger bench ledger``; the multi-process network runs the
same :class:`Peer` and :class:`Gateway` classes over HTTP and NATS JetStream.

With ``workers=True`` each peer validates and commits in a worker process of its own while the
event loop keeps endorsing, ordering and serving clients (:mod:`careledger.node.workers`); the
peers in :attr:`EmbeddedNetwork.peers` are then views of the workers' stores.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import TracebackType

from careledger.aio import stop_task
from careledger.contracts.registry import ContractRegistry, default_registry
from careledger.crypto.keys import BatchVerifier
from careledger.errors import StorageError
from careledger.node.consortium import ConsortiumConfig, load_config, open_peer
from careledger.node.gateway import Gateway, LocalEndorser
from careledger.node.peer import Peer
from careledger.node.workers import CommitBarrier, PeerWorker, WorkerPeer
from careledger.ordering.solo import SoloOrderer

__all__ = ["EmbeddedNetwork", "open_peer"]


class EmbeddedNetwork:
    """Start with ``async with EmbeddedNetwork.open(dir) as net:``."""

    def __init__(
        self,
        config: ConsortiumConfig,
        registry: ContractRegistry | None = None,
        *,
        fsync: bool = True,
        workers: bool = False,
    ) -> None:
        self.config = config
        self.registry = registry or default_registry()
        self.verifier = BatchVerifier()
        self.fsync = fsync
        self.workers = workers
        self.peers: dict[str, Peer] = {}
        self.orderer: SoloOrderer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: list[PeerWorker] = []

    @classmethod
    def open(
        cls, directory: str | Path, *, fsync: bool = True, workers: bool = False
    ) -> EmbeddedNetwork:
        return cls(load_config(directory), fsync=fsync, workers=workers)

    def worker_pid(self, org: str) -> int | None:
        """The process id of ``org``'s peer worker (None without workers)."""
        return next((w.pid for w in self._workers if w.org == org), None)

    def worker_cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each peer worker process has used (empty without workers)."""
        return {w.org: w.view.cpu_seconds for w in self._workers if w.view is not None}

    def signatures_checked(self) -> int:
        """Signatures the peers' block validation verified so far (all peers)."""
        if self.workers:
            return sum(w.view.checked for w in self._workers if w.view is not None)
        return self.verifier.checked

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()  # release whatever was opened before the failure
            raise

    async def _start(self) -> None:
        for org in self.config.org_ids:
            self.peers[org] = open_peer(
                self.config, org, self.registry, self.verifier, fsync=self.fsync
            )
        genesis = self.config.genesis()
        tallest = max(self.peers.values(), key=lambda p: p.blocks.height())
        height = tallest.blocks.height()
        if height and tallest.blocks.get(0).header.hash() != genesis.header.hash():
            raise StorageError("the stored chain does not start with this consortium's genesis")
        last_hash = tallest.blocks.last_hash() or b""
        self.orderer = SoloOrderer(
            self.config.orderer_identity(),
            height=height,
            last_hash=last_hash,
            config=self.config.cutter,
            genesis=genesis,
        )
        for peer in self.peers.values():
            # A peer behind the tallest one (it crashed earlier) copies the missing blocks.
            for n in range(peer.blocks.height(), height):
                peer.commit_block(tallest.blocks.get(n))
        if self.workers:
            await self._start_workers(height)
        else:
            for peer in self.peers.values():
                self._tasks.append(asyncio.create_task(peer.run(self.orderer)))
        await self.wait_height(max(height, 1))

    async def _start_workers(self, height: int) -> None:
        """Hand each recovered peer's stores to a worker process; keep views of them."""
        assert self.orderer is not None
        recovered = {org: peer.recovered_blocks for org, peer in self.peers.items()}
        for peer in self.peers.values():
            peer.close()
        self.peers.clear()
        for org in self.config.org_ids:
            worker = PeerWorker(self.config, org, fsync=self.fsync)
            self._workers.append(worker)
        started = await asyncio.gather(
            *(w.start(self.registry, self.verifier, height) for w in self._workers),
            return_exceptions=True,  # every start has finished before stop() closes them
        )
        views = [v for v in started if isinstance(v, WorkerPeer)]
        failed = [e for e in started if isinstance(e, BaseException)]
        if failed:
            raise failed[0]
        barrier = CommitBarrier(len(self._workers))
        for worker, view in zip(self._workers, views, strict=True):
            view.recovered_blocks = recovered[worker.org]  # recovery ran before the workers
            self.peers[worker.org] = view
            self._tasks.extend(worker.run(self.orderer, barrier))

    async def wait_height(self, height: int, timeout: float = 30.0) -> None:
        async def reached() -> None:
            while any(p.height() < height for p in self.peers.values()):
                for worker in self._workers:
                    worker.check()
                for task in self._tasks:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.005)

        await asyncio.wait_for(reached(), timeout)

    def gateway(self, org: str, member: str = "client0") -> Gateway:
        assert self.orderer is not None, "start() the network first"
        endorsers = {o: LocalEndorser(p) for o, p in self.peers.items()}
        return Gateway(self.config.member(org, member), self.peers[org], endorsers, self.orderer)

    async def stop(self) -> None:
        """Stop ordering, let peers commit what was ordered, release every store.

        Raises the error of a peer that failed while running, after releasing everything.
        """
        try:
            if self.orderer is not None:
                await self.orderer.close()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*self._tasks), 10)
            for worker in self._workers:
                worker.check()
        finally:
            for task in self._tasks:
                await stop_task(task)
            for worker in self._workers:
                await worker.close()
            for peer in self.peers.values():
                if not isinstance(peer, WorkerPeer):
                    peer.close()
            self.verifier.close()

    async def __aenter__(self) -> EmbeddedNetwork:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
