"""Stopping whatever the runs do: the grace period, then cancel, then give up; all bounded."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from autosched.scheduler import (
    CANCEL_WAIT,
    Scheduler,
)
from tests.scheduler.helpers import events_of, running


async def test_stop_is_bounded_when_an_async_run_swallows_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler(grace_period=0.2)

    deafness = [True]

    async def deaf() -> None:
        while deafness[0]:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue  # refuses to stop

    scheduler.add_task("deaf", deaf, 60)
    started = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0)
    scheduler.run_now("deaf")
    await asyncio.sleep(0.05)
    stopping = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="autosched"):
        scheduler.stop()
        async with asyncio.timeout(0.2 + CANCEL_WAIT + 1):
            await started
    assert time.monotonic() - stopping < 0.2 + CANCEL_WAIT + 0.5
    assert scheduler.abandoned == ["deaf"]
    assert "Giving up on 1 async run(s) that ignored cancellation" in caplog.text
    assert "'deaf'" in caplog.text
    deafness[0] = False  # leave no run behind for the next test
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()
        await asyncio.wait({task}, timeout=1)


async def test_a_sync_run_past_the_grace_period_is_abandoned_not_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    scheduler = Scheduler(grace_period=0.1)
    events = events_of(scheduler)
    scheduler.add_task("stuck", lambda: release.wait(10), 60)
    try:
        with caplog.at_level(logging.WARNING, logger="autosched"):
            async with running(scheduler):
                scheduler.run_now("stuck")
                await asyncio.sleep(0.05)
        assert scheduler.abandoned == ["stuck"]
        assert "Abandoning 1 sync run(s) still going after the 0.1 s grace period" in caplog.text
        assert "cancelled" not in caplog.text
        assert scheduler.tasks["stuck"].running  # true: it still runs in its thread
        assert [e.kind for e in events] == ["started"]  # it has not finished
    finally:
        release.set()
