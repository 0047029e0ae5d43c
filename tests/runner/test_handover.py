"""A runner taking the lease after a graceful stop: the slots since the stop run, none before.

The stopping scheduler is a ``Leadership`` released with the stop instant a test chooses, a
little before or after a slot of a 2 s row; the taker is a fresh ``SchedulerRunner``, as a
process started for the stop is. The row's function records the slot of each run.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from autosched.models import PeriodicTask
from autosched.runner import SchedulerRunner
from autosched.runner.leadership import HANDOVER_WINDOW, Leadership
from tests.runner.helpers import in_thread
from tests.testapp import tasks
from tests.waiting import wait_until_async

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_connections"),
]

INTERVAL = 2


@pytest.fixture
async def row() -> AsyncIterator[None]:
    await in_thread(
        lambda: PeriodicTask.objects.create(
            name="slot",
            function="tests.testapp.tasks.on_the_slot",
            interval_seconds=INTERVAL,
            offset_seconds=0,
        )
    )
    tasks.slots.clear()
    yield
    tasks.slots.clear()


async def just_after_a_slot() -> float:
    """Wait until 0.2 s after a slot of the row's grid (with 1.5 s left before the next one)."""
    now = time.time()
    slot = math.floor(now / INTERVAL) * INTERVAL
    if now - slot > 0.3:
        slot += INTERVAL
    await asyncio.sleep(max(0.0, slot + 0.2 - time.time()))
    return slot


async def stop_gracefully(stopped_at: float) -> None:
    """Hold the lease, then release it as a scheduler that stopped at ``stopped_at`` would."""
    old = Leadership(ttl=60, renew_every=2)
    await in_thread(old.attempt)
    await in_thread(lambda: old.release(stopped_ago=time.time() - stopped_at))


async def first_slot_run(**settings: Any) -> float:
    """Start a fresh runner, return the slot of its first run."""
    runner = SchedulerRunner(sync_interval=0.05)
    serving = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(10):
            await wait_until_async(lambda: tasks.slots, "the first run")
    finally:
        runner.request_stop()
        async with asyncio.timeout(10):
            await serving
    first = tasks.slots[0]
    assert isinstance(first, datetime)
    return first.timestamp()


@pytest.mark.usefixtures("row")
async def test_a_fresh_runner_runs_the_slot_that_fell_since_the_stop() -> None:
    slot = await just_after_a_slot()
    await stop_gracefully(slot - 0.1)  # stopped 0.1 s before the slot: nobody ran it
    assert await first_slot_run() == slot  # run late, once, by the new scheduler


@pytest.mark.usefixtures("row")
@pytest.mark.parametrize("grace", [0.0, 5.0])
async def test_a_slot_the_stopping_scheduler_ran_never_runs_again(
    grace: float, settings: Any
) -> None:
    settings.AUTOSCHED_MISSED_SLOT_GRACE = grace
    slot = await just_after_a_slot()
    await stop_gracefully(slot + 0.05)  # stopped just after the slot: it ran it
    assert await first_slot_run() == slot + INTERVAL


@pytest.mark.usefixtures("row")
async def test_a_late_takeover_skips_the_slots_since_the_stop(settings: Any) -> None:
    settings.AUTOSCHED_MISSED_SLOT_GRACE = 0.0
    slot = await just_after_a_slot()
    await stop_gracefully(slot - HANDOVER_WINDOW - 0.1)
    assert await first_slot_run() == slot + INTERVAL


@pytest.mark.usefixtures("row")
async def test_after_a_crash_the_grace_decides(settings: Any) -> None:
    # No lease row at all: nothing recorded, so the grace alone (today's rule) applies.
    settings.AUTOSCHED_MISSED_SLOT_GRACE = 5.0
    slot = await just_after_a_slot()
    assert await first_slot_run() == slot
