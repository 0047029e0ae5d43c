"""Helpers for the core's tests: record calls from any thread, wait for them under a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable

from autosched.scheduler import RunEvent, Scheduler


def noop() -> None:
    """Do nothing: a task function whose runs do not matter."""


class Calls:
    """A no-argument callable (sync, or async via ``.coro``) that records when it ran."""

    def __init__(self, work: Callable[[], object] | None = None) -> None:
        self.times: list[float] = []
        self.threads: list[int] = []
        self._work = work
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.threads.append(threading.get_ident())
        self._loop.call_soon_threadsafe(self._changed.set)
        if self._work is not None:
            self._work()

    async def coro(self) -> None:
        self()

    @property
    def count(self) -> int:
        return len(self.times)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``count`` calls were recorded, failing after ``timeout``."""
        async with asyncio.timeout(timeout):
            while len(self.times) < count:
                self._changed.clear()
                if len(self.times) >= count:
                    break
                await self._changed.wait()


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler, stop_timeout: float = 5.0) -> AsyncIterator[Scheduler]:
    """Run ``scheduler`` in the background for the body; stop it and wait for start() after."""
    started = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0)  # start() runs up to its first await: the scheduler is live
    assert scheduler.is_running()
    try:
        yield scheduler
    finally:
        scheduler.stop()
        async with asyncio.timeout(stop_timeout):
            await started


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def events_of(scheduler: Scheduler) -> list[RunEvent]:
    """Return the list that the scheduler's run events are appended to from now on."""
    events: list[RunEvent] = []
    scheduler.add_listener(events.append)
    return events
