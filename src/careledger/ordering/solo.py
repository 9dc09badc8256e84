"""Solo ordering: one in-process orderer, for the embedded network and tests.

It cuts blocks with a :class:`BlockCutter`, signs each header with its orderer identity and keeps
the blocks it produced in memory so a peer can ask for any of them. It has no fault tolerance by
design; the ``jetstream`` backend is for that.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

from careledger.errors import EncodingError, InvalidInput, OrderingError
from careledger.identity.msp import LocalIdentity
from careledger.ledger.block import Block, make_block
from careledger.ledger.transaction import MAX_ENVELOPE_BYTES, decode_envelope
from careledger.ordering.base import CutterConfig
from careledger.ordering.blockcutter import BlockCutter


def sign_block(block: Block, signer: LocalIdentity) -> Block:
    block.signer = signer.identity
    block.signature = signer.sign(block.header.to_bytes())
    return block


class SoloOrderer:
    def __init__(
        self,
        signer: LocalIdentity,
        *,
        height: int,
        last_hash: bytes,
        config: CutterConfig | None = None,
        genesis: Block | None = None,
    ) -> None:
        self.signer = signer
        self.cutter = BlockCutter(config or CutterConfig())
        self._base = height
        self._blocks: list[Block] = []
        self._last_hash = last_hash
        self._new_block = asyncio.Condition()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._emitting: set[asyncio.Task[None]] = set()
        if height == 0:
            if genesis is None:
                raise OrderingError("an empty chain needs its genesis block")
            self._base = 0
            self._blocks.append(genesis)
            self._last_hash = genesis.header.hash()

    @property
    def height(self) -> int:
        return self._base + len(self._blocks)

    async def broadcast(self, envelope: bytes) -> None:
        if self._closed:
            raise OrderingError("the orderer is shut down")
        if not isinstance(envelope, bytes) or len(envelope) > MAX_ENVELOPE_BYTES:
            raise InvalidInput(f"an envelope is bytes of at most {MAX_ENVELOPE_BYTES}")
        try:
            decode_envelope(envelope)
        except EncodingError as exc:
            raise InvalidInput(f"malformed envelope: {exc}") from exc
        for batch in self.cutter.ordered(envelope):
            await self._emit(batch)
        if self.cutter.pending and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.cutter.config.batch_timeout, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        if self.cutter.pending:
            task = asyncio.get_running_loop().create_task(self._emit(self.cutter.cut()))
            self._emitting.add(task)  # keep a reference until it is done
            task.add_done_callback(self._emitting.discard)

    async def _emit(self, batch: list[bytes]) -> None:
        block = make_block(self.height, self._last_hash, batch, int(time.time() * 1000))
        sign_block(block, self.signer)
        self._blocks.append(block)
        self._last_hash = block.header.hash()
        async with self._new_block:
            self._new_block.notify_all()

    async def deliver(self, start: int) -> AsyncIterator[Block]:
        if start < self._base:
            raise OrderingError(f"solo orderer holds blocks from {self._base}, asked for {start}")
        n = start
        while True:
            async with self._new_block:
                await self._new_block.wait_for(functools.partial(self._ready, n))
            if n >= self.height:
                return
            while n < self.height:
                yield self._blocks[n - self._base]
                n += 1

    def _ready(self, n: int) -> bool:
        return self.height > n or self._closed

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.cutter.pending:
            await self._emit(self.cutter.cut())
        self._closed = True
        async with self._new_block:
            self._new_block.notify_all()
