"""A member's gateway usable from any thread: the bridge between the FHIR service's request
threads and the network's event loop (:mod:`careledger.longitudinal.ledger`, :mod:`.accounting`,
:mod:`.everything` query and submit through it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from careledger.errors import CareLedgerError
from careledger.identity.msp import LocalIdentity

log = logging.getLogger("careledger.longitudinal.ledger")


class _Peer(Protocol):
    def height(self) -> int: ...


class LedgerGateway(Protocol):
    """What the FHIR side needs of a member's way onto the ledger: an in-process
    :class:`careledger.node.gateway.Gateway`, or a client of a remote node (``careledger bench
    fhir --network``)."""

    identity: LocalIdentity

    @property
    def peer(self) -> _Peer:
        """The committed height is read from it (consent decisions are cached per height)."""
        ...

    async def submit(self, contract: str, function: str, args: list[Any]) -> Any:
        """Endorse, order and wait for the commit."""
        ...

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any: ...


class LedgerSession:
    """A member's gateway usable from any thread: queries run on the loop that owns the
    network (directly when already on it), submissions are background tasks on that loop."""

    def __init__(
        self, gateway: LedgerGateway, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.gateway = gateway
        self.loop = loop or asyncio.get_running_loop()
        self.failures: list[BaseException] = []
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def org(self) -> str:
        return self.gateway.identity.org

    def height(self) -> int:
        return self.gateway.peer.height()

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def query(self, contract: str, function: str, args: list[Any]) -> Any:
        """Evaluate a query on the gateway's peer, from any thread."""
        if self._on_loop():
            step = self.gateway.evaluate(contract, function, list(args))
            try:
                step.send(None)
            except StopIteration as done:
                return done.value
            step.close()
            raise CareLedgerError("the gateway's evaluate cannot complete synchronously")
        future = asyncio.run_coroutine_threadsafe(
            self.gateway.evaluate(contract, function, list(args)), self.loop
        )
        try:
            return future.result(timeout=30)
        except concurrent.futures.TimeoutError as exc:
            raise CareLedgerError("ledger query timed out") from exc

    def spawn(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work()`` on the loop in the background (thread-safe)."""

        def start() -> None:
            task = asyncio.ensure_future(work())
            self._tasks.add(task)
            task.add_done_callback(self._done)

        if self._on_loop():
            start()
        else:
            self.loop.call_soon_threadsafe(start)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            self.failures.append(exc)
            log.error("a background ledger submission failed", exc_info=exc)

    async def drain(self) -> None:
        """Wait until every background submission has finished (including ones they start)."""
        for _ in range(3):  # calls scheduled from other threads land on the next loop turns
            await asyncio.sleep(0)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            await asyncio.sleep(0)
