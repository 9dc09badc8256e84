"""Stopping background tasks for sure, and bounding cleanup that may never finish.

A cancelled task can swallow its cancellation: ``asyncio.wait_for`` on Python 3.11 returns the
inner result when the cancellation and the inner completion race (python/cpython#86296), and
client libraries turn ``CancelledError`` into their own errors in places. A task whose loop then
goes on would hang whoever awaits it after one ``cancel()`` — which is how a failing test could
sit until the 300 s pytest timeout instead of reporting its error. :func:`stop_task` cancels
again until the task has ended, and gives up (logging) after ``timeout`` rather than hanging;
:func:`within` bounds best-effort cleanup (closing connections) the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger(__name__)

_RECANCEL_EVERY = 0.25


async def stop_task(task: asyncio.Task[Any], timeout: float = 10.0) -> BaseException | None:
    """Cancel ``task`` and wait until it has ended; return its exception, if it raised one.

    Cancellation is repeated every 0.25 s while the task runs on. After ``timeout`` seconds the
    task is left (logged as an error) and ``TimeoutError`` is returned. A cancellation of the
    caller itself propagates (``asyncio.wait`` does not swallow it, unlike awaiting the task
    inside ``suppress(CancelledError)``).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.error("task %s did not stop within %.1fs after cancellation", task, timeout)
            return TimeoutError(f"task {task.get_name()} did not stop")
        task.cancel()
        await asyncio.wait({task}, timeout=min(_RECANCEL_EVERY, remaining))
    if task.cancelled():
        return None
    return task.exception()


async def within(awaitable: Awaitable[Any], timeout: float) -> bool:
    """Let ``awaitable`` run for at most ``timeout`` seconds; True when it finished in time.

    For best-effort cleanup (closing a connection to a server that may be gone): after the
    timeout the work is cancelled and *left*, not awaited. ``asyncio.wait_for`` instead waits
    for the cancelled work to finish, which is forever when it swallows the cancellation (a
    client closing over a broken connection can). Its outcome, error or not, is discarded."""
    task = asyncio.ensure_future(awaitable)
    task.add_done_callback(_discard)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if task in done:
        return True
    task.cancel()
    log.debug("cleanup %s did not finish within %.1fs; left behind", task, timeout)
    return False


def _discard(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
