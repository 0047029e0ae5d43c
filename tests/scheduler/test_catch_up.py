"""``start(catch_up=, since=)``: the slots a start runs late, and those it never runs again.

The wall clock is injected: it runs with the real one from a chosen instant, so that a start
falls at a known place between two slots of a 1 s grid (``BASE`` is a slot).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from autosched.scheduler import Scheduler
from tests.scheduler.test_aligned import SlotCalls

BASE = 1_800_000_000.0  # a slot of the 1 s grid, offset 0


class WallFrom:
    """A wall clock that reads ``start`` now and runs with the real one from there."""

    def __init__(self, start: float) -> None:
        self.jump_to(start)

    def jump_to(self, moment: float) -> None:
        """Read ``moment`` now (a step of the clock)."""
        self._skew = moment - time.time()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._skew, UTC)


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@asynccontextmanager
async def started(
    scheduler: Scheduler, *, catch_up: float = 0.0, since: datetime | None = None
) -> AsyncIterator[None]:
    extra = {} if since is None else {"since": since}
    run = asyncio.create_task(scheduler.start(catch_up=catch_up, **extra))
    try:
        yield
    finally:
        scheduler.stop()
        async with asyncio.timeout(5):
            await run


def slots_of(calls: SlotCalls) -> list[float]:
    return [slot.timestamp() for slot in calls.slots if slot is not None]


def scheduler_at(wall: float, *, added_at: float | None = None) -> tuple[Scheduler, SlotCalls]:
    """Return a scheduler whose clock reads ``wall``, with a task added (at ``added_at``)."""
    clock = WallFrom(wall if added_at is None else added_at)
    calls = SlotCalls(clock)
    scheduler = Scheduler(wall_clock=clock)
    scheduler.add_task("t", calls, 1, offset=0)
    clock.jump_to(wall)
    return scheduler, calls


@pytest.mark.parametrize("catch_up", [0.0, 5.0, math.inf])
async def test_no_slot_at_or_before_since_runs_again_whatever_the_catch_up(
    catch_up: float,
) -> None:
    # The previous scheduler ran BASE and stopped 0.2 s later; this one starts at BASE + 0.7
    # with a grace of 5 s (AUTOSCHED_MISSED_SLOT_GRACE): BASE must not run a second time.
    scheduler, calls = scheduler_at(BASE + 0.7)
    async with started(scheduler, catch_up=catch_up, since=at(BASE + 0.2)):
        await calls.wait_for(1)
    assert slots_of(calls) == [BASE + 1]


async def test_a_slot_exactly_at_since_does_not_run_again() -> None:
    scheduler, calls = scheduler_at(BASE + 0.7)
    async with started(scheduler, catch_up=math.inf, since=at(BASE)):
        await calls.wait_for(1)
    assert slots_of(calls) == [BASE + 1]


async def test_the_latest_slot_after_since_runs_once_and_the_next_on_time() -> None:
    # The previous scheduler stopped 0.1 s before BASE; this one starts 0.7 s after it: BASE
    # runs late, once, and BASE + 1, 0.3 s later, still runs (it is not pushed half an
    # interval away from the late run).
    scheduler, calls = scheduler_at(BASE + 0.7)
    async with started(scheduler, catch_up=math.inf, since=at(BASE - 0.1)):
        await calls.wait_for(3)
    assert slots_of(calls) == [BASE, BASE + 1, BASE + 2]
    assert calls.walls[0] - BASE < 0.75  # at once
    assert calls.walls[1] - (BASE + 1) < 0.1  # on time


async def test_only_the_latest_of_the_slots_after_since_runs() -> None:
    scheduler, calls = scheduler_at(BASE + 0.5)
    async with started(scheduler, catch_up=math.inf, since=at(BASE - 3.5)):
        await calls.wait_for(2)
    assert slots_of(calls) == [BASE, BASE + 1]


async def test_the_grace_reaches_no_further_back_than_itself_after_since() -> None:
    # A stop 3.5 s before the start, a grace of 0.5 s: the latest slot fell 0.7 s ago.
    scheduler, calls = scheduler_at(BASE + 0.7)
    async with started(scheduler, catch_up=0.5, since=at(BASE - 2.8)):
        await calls.wait_for(1)
    assert slots_of(calls) == [BASE + 1]


async def test_without_since_the_grace_runs_the_latest_slot_and_the_next_on_time() -> None:
    # After a crash nothing is recorded: the grace alone decides (today's rule). The late run
    # does not push the next slot, 0.3 s later, half an interval away.
    scheduler, calls = scheduler_at(BASE + 0.7)
    async with started(scheduler, catch_up=5.0):
        await calls.wait_for(2)
    assert slots_of(calls) == [BASE, BASE + 1]


@pytest.mark.parametrize("catch_up", [5.0, math.inf])
async def test_a_task_whose_slot_fell_while_stopped_keeps_the_floor(catch_up: float) -> None:
    # Added 6 s before the start: its slot fell while stopped, so the start moves it (rather
    # than keep its place on the heap), under the same floor.
    scheduler, calls = scheduler_at(BASE + 0.7, added_at=BASE - 5.3)
    async with started(scheduler, catch_up=catch_up, since=at(BASE + 0.2)):
        await calls.wait_for(1)
    assert slots_of(calls) == [BASE + 1]


async def test_a_task_whose_slot_fell_while_stopped_catches_up_after_since() -> None:
    scheduler, calls = scheduler_at(BASE + 0.7, added_at=BASE - 5.3)
    async with started(scheduler, catch_up=math.inf, since=at(BASE - 0.2)):
        await calls.wait_for(2)
    assert slots_of(calls) == [BASE, BASE + 1]


async def test_since_must_be_aware() -> None:
    scheduler = Scheduler()
    with pytest.raises(ValueError, match="aware"):
        await scheduler.start(since=datetime(2026, 1, 1))
    assert not scheduler.is_running()
