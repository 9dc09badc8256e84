"""stop_task: a background task ends even when it swallows a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from careledger.aio import stop_task, within


def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    async def scenario() -> None:
        swallowed = 0

        async def stubborn() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    swallowed += 1
                    if swallowed > 2:
                        raise

        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        assert await stop_task(task, timeout=5) is None
        assert task.cancelled()
        assert swallowed == 3

    asyncio.run(scenario())


def test_the_error_of_a_task_is_returned() -> None:
    async def scenario() -> None:
        async def failing() -> None:
            raise ValueError("broken")

        task = asyncio.create_task(failing())
        await asyncio.sleep(0)
        error = await stop_task(task)
        assert isinstance(error, ValueError)
        assert str(error) == "broken"

    asyncio.run(scenario())


def test_a_task_that_never_stops_is_left_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def deaf() -> None:
            while not release.is_set():
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue

        task = asyncio.create_task(deaf())
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        error = await stop_task(task, timeout=0.6)
        assert isinstance(error, TimeoutError)
        assert 0.5 < loop.time() - started < 3
        assert "did not stop" in caplog.text
        release.set()
        task.cancel()
        await asyncio.wait({task})

    asyncio.run(scenario())


def test_the_caller_can_still_be_cancelled() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def deaf() -> None:
            while not release.is_set():
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue

        task = asyncio.create_task(deaf())
        await asyncio.sleep(0)
        stopper = asyncio.create_task(stop_task(task, timeout=60))
        await asyncio.sleep(0.1)
        stopper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopper
        assert not task.done()
        release.set()
        task.cancel()
        await asyncio.wait({task})

    asyncio.run(scenario())


def test_cleanup_that_ignores_cancellation_is_left_after_its_time() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def stuck_close() -> None:  # a client closing over a dead connection
            while not release.is_set():
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue

        async def quick_close() -> None:
            raise OSError("already gone")

        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await within(stuck_close(), 0.2) is False
        assert loop.time() - started < 2  # asyncio.wait_for would wait for it forever
        assert await within(quick_close(), 1.0) is True  # its error is discarded
        release.set()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
            await asyncio.wait({task})

    asyncio.run(scenario())
