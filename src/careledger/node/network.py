"""The embedded network: a whole consortium in one process.

One peer per organisation, each with its own block file and SQLite state under
``DIR/data/<Org>``, a solo orderer, and gateways for any member. This is the default for
development, demos, tests and ``careledger bench ledger``; the multi-process network runs the
same :class:`Peer` and :class:`Gateway` classes over HTTP and NATS JetStream.
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
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.node.consortium import ConsortiumConfig, load_config
from careledger.node.gateway import Gateway, LocalEndorser
from careledger.node.peer import Peer
from careledger.ordering.solo import SoloOrderer


def open_peer(
    config: ConsortiumConfig,
    org: str,
    registry: ContractRegistry,
    verifier: BatchVerifier | None = None,
    *,
    fsync: bool = True,
) -> Peer:
    data = config.data_dir(org)
    data.mkdir(parents=True, exist_ok=True)
    blocks = BlockStore(data / "blocks.log", fsync=fsync)
    try:
        state = SQLiteStateStore(data / "state.db")
    except BaseException:
        blocks.close()
        raise
    try:
        return Peer(config.member(org, "peer0"), state, blocks, registry, verifier)
    except BaseException:  # recovery failed: release the stores before reporting it
        blocks.close()
        state.close()
        raise


class EmbeddedNetwork:
    """Start with ``async with EmbeddedNetwork.open(dir) as net:``."""

    def __init__(
        self,
        config: ConsortiumConfig,
        registry: ContractRegistry | None = None,
        *,
        fsync: bool = True,
    ) -> None:
        self.config = config
        self.registry = registry or default_registry()
        self.verifier = BatchVerifier()
        self.fsync = fsync
        self.peers: dict[str, Peer] = {}
        self.orderer: SoloOrderer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def open(cls, directory: str | Path, *, fsync: bool = True) -> EmbeddedNetwork:
        return cls(load_config(directory), fsync=fsync)

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
            self._tasks.append(asyncio.create_task(peer.run(self.orderer)))
        await self.wait_height(max(height, 1))

    async def wait_height(self, height: int, timeout: float = 30.0) -> None:
        async def reached() -> None:
            while any(p.height() < height for p in self.peers.values()):
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
        finally:
            for task in self._tasks:
                await stop_task(task)
            for peer in self.peers.values():
                peer.close()
            self.verifier.close()

    async def __aenter__(self) -> EmbeddedNetwork:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
