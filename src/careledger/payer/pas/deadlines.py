"""Marking breached prior-authorization deadlines without anyone having to remember to.

Each node watches the review queue of its own organisation's requests (the contract's ``pending``
query, on its own peer) and, once one is past its deadline, submits ``check_deadlines(now)``,
which marks every due request once, with an event. Any member may also call it
(``POST /payer/prior-auth/deadlines``); two nodes racing cost one MVCC retry, and the second
finds nothing left to mark.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from careledger.aio import stop_task
from careledger.errors import CareLedgerError, UnknownContract
from careledger.payer.pas.service import PriorAuthService

log = logging.getLogger("careledger.payer")


class DeadlineWatch:
    def __init__(
        self,
        service: PriorAuthService,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> list[str]:
        """Mark what is due now; returns the numbers marked (empty when nothing was due)."""
        now = int(self._clock() * 1000)  # before the proposal is stamped, so never after it
        pending = await self.service.pending()
        if not any(p["payer"] == self.service.org and p["deadline"] < now for p in pending):
            return []
        marked: list[str] = []
        while True:
            result = await self.service.check_deadlines(now)
            marked.extend(result["breached"])
            if not result["more"]:
                return marked

    async def _run(self) -> None:
        while True:
            try:
                marked = await self.tick()
                if marked:
                    log.info("prior authorization deadlines breached: %s", ", ".join(marked))
            except UnknownContract:
                pass  # prior_auth not approved in this consortium (yet)
            except CareLedgerError as exc:  # retried at the next interval
                log.warning("checking prior-authorization deadlines failed: %r", exc)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="payer-deadline-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
