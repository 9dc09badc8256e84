"""Coalescing an awarder's concurrent awards into ``award_batch`` transactions.

Every transaction costs the consortium a proposal, an endorsement round (simulation and a
signature per endorser), an envelope in a block and, on every peer, its signatures, policy and
MVCC checks — whatever it carries. An awarder answering many members at once therefore sends
the awards that are waiting together, up to ``max_batch`` awards per transaction. An award that
finds one of ``in_flight`` transaction slots free goes at once, alone, as the ordinary ``award``
transaction (so a lone award's latency and result are what they always were); awards that would
wait for a slot are grouped, and a full batch goes at once whatever the slots — so a busy
awarder keeps checking the next awards' evidence while full batches are ordered, instead of
waiting for a block to be cut.

Every award of a batch gets its own result from the contract (see
:mod:`careledger.contracts.incentives.batch`). A batch the endorsers refuse as malformed (one bad
award makes the whole simulation fail, nothing is ordered) is sent again award by award, so the
malformed award raises its own error to its own caller and the others are decided on their own.
A fault after that (ordering, an MVCC conflict beyond the retries, a commit timeout) reaches
every caller of the batch, as it would reach the caller of a lone award.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from careledger.contracts.incentives import NAMESPACE
from careledger.contracts.incentives.batch import MAX_BATCH
from careledger.errors import ContractError, InvalidInput
from careledger.node.gateway import Gateway


@dataclass(frozen=True, slots=True)
class Submitted:
    """One award's committed transaction and the contract's result for that award."""

    tx_id: str
    result: dict[str, Any]
    batch: int
    """How many awards that transaction carried (1: a lone ``award``)."""


class AwardBatcher:
    """Submits awards (the ``award`` arguments, campaign id first) alone or in batches."""

    def __init__(
        self, gateway: Gateway, *, max_batch: int = 64, in_flight: int = 4, retries: int = 8
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH or in_flight < 1:
            raise InvalidInput(f"max_batch is 1 to {MAX_BATCH}, in_flight at least 1")
        self._gateway = gateway
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._retries = retries
        self._waiting: dict[str, list[tuple[list[Any], asyncio.Future[Submitted]]]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.transactions = 0
        self.awards = 0

    async def submit(self, args: list[Any]) -> Submitted:
        """Order the award ``args`` (as for ``award``) and wait for its commit."""
        future: asyncio.Future[Submitted] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(str(args[0]), []).append((args, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._waiting:
            full = [c for c, queue in self._waiting.items() if len(queue) >= self._max_batch]
            if not full and len(self._running) >= self._in_flight:
                return  # a partial batch waits for a slot (and may fill up meanwhile)
            campaign = full[0] if full else next(iter(self._waiting))
            queue = self._waiting[campaign]
            batch, rest = queue[: self._max_batch], queue[self._max_batch :]
            if rest:
                self._waiting[campaign] = rest
            else:
                del self._waiting[campaign]
            # An award whose caller gave up before it was sent is not sent.
            batch = [(args, future) for args, future in batch if not future.done()]
            if not batch:
                continue
            task = asyncio.create_task(self._send(campaign, batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._pump()

    async def _send(
        self, campaign: str, batch: list[tuple[list[Any], asyncio.Future[Submitted]]]
    ) -> None:
        try:
            if len(batch) == 1:
                await self._alone(*batch[0])
                return
            # One budget tranche for the batch: the first award's. The awarder gives
            # consecutive awards consecutive tranches, so a batch of n awards spills, if at
            # all, into the n - 1 tranches its own awards were given, which no other batch
            # in flight starts on; one tranche write then serves several awards.
            tranche = batch[0][0][-1]
            items = [[*args[1:-1], tranche] for args, _ in batch]
            try:
                done = await self._gateway.submit(
                    NAMESPACE, "award_batch", [campaign, items], retries=self._retries
                )
            except (ContractError, InvalidInput):
                # One malformed award refuses the batch: decide each on its own.
                await asyncio.gather(*(self._alone(args, future) for args, future in batch))
                return
            self.transactions += 1
            self.awards += len(batch)
            for (_, future), result in zip(batch, done.result, strict=True):
                if not future.done():
                    future.set_result(Submitted(done.tx_id, result, len(batch)))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise

    async def _alone(self, args: list[Any], future: asyncio.Future[Submitted]) -> None:
        try:
            done = await self._gateway.submit(NAMESPACE, "award", args, retries=self._retries)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        self.transactions += 1
        self.awards += 1
        if not future.done():
            future.set_result(Submitted(done.tx_id, done.result, 1))
