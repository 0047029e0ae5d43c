"""Tasks with an offset: slots on the UTC clock, the same in every process and across restarts.

The wall clock is real here except where a test injects one that it steps. Intervals are a
few tenths of a second; each run's slot is read with ``current_slot()`` and compared with the
grid ``offset + k * interval``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from autosched.scheduler import Scheduler, current_slot
from autosched.scheduler.grid import first_slot_after
from tests.scheduler.helpers import Calls, running


class SlotCalls(Calls):
    """Record the wall time and the slot of every call."""

    def __init__(self, wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__()
        self.walls: list[float] = []
        self.slots: list[datetime | None] = []
        self._wall = wall

    def __call__(self) -> None:
        self.walls.append(self._wall().timestamp())
        self.slots.append(current_slot())
        super().__call__()


class SteppedClock:
    """A wall clock that runs with the real one, off by ``step`` seconds."""

    def __init__(self) -> None:
        self.step = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.step)


def on_grid(epoch: float, interval: float, offset: float) -> float:
    """Return how far ``epoch`` is from the nearest slot of the grid, in seconds."""
    k = round((epoch - offset) / interval)
    return abs(epoch - (offset + k * interval))


def test_first_slot_after_is_strictly_later() -> None:
    assert first_slot_after(100.0, 10.0, 3.0) == 10  # 3 + 10 * 10 = 103 > 100
    assert first_slot_after(103.0, 10.0, 3.0) == 11  # 103 itself is not after 103
    assert first_slot_after(1.8e9 + 0.0005, 0.001, 0.0) * 0.001 > 1.8e9 + 0.0005


async def test_runs_fall_on_the_utc_grid_of_the_offset() -> None:
    calls = SlotCalls()
    scheduler = Scheduler()
    async with running(scheduler):
        scheduler.add_task("aligned", calls, 0.2, offset=0.05)
        await calls.wait_for(4)
    for wall, slot in zip(calls.walls, calls.slots, strict=True):
        assert slot is not None
        assert on_grid(slot.timestamp(), 0.2, 0.05) < 1e-6  # the slot is on the grid...
        assert 0 <= wall - slot.timestamp() < 0.02  # ...and the run starts just after it
    assert [
        round(b.timestamp() - a.timestamp(), 3) for a, b in itertools.pairwise(calls.slots)
    ] == [0.2] * 3  # type: ignore[union-attr]


async def test_two_schedulers_compute_the_same_slots() -> None:
    # Like two processes, or a restart: the slots depend on the clock, not on when they began.
    first, second = SlotCalls(), SlotCalls()
    one, other = Scheduler(), Scheduler()
    async with running(one):
        one.add_task("t", first, 0.3, offset=0.1)
        await asyncio.sleep(0.13)
        async with running(other):
            other.add_task("t", second, 0.3, offset=0.1)
            await first.wait_for(4)
            await second.wait_for(3)
    assert set(second.slots[:3]) <= set(first.slots)


async def test_next_run_is_the_exact_slot() -> None:
    scheduler = Scheduler()
    scheduler.add_task("daily", lambda: None, 86400, offset=10800)
    status = scheduler.get_task_status("daily")
    assert status is not None
    next_run = datetime.fromisoformat(status["next_run"])
    assert (next_run.hour, next_run.minute, next_run.second, next_run.microsecond) == (3, 0, 0, 0)
    assert 0 < status["seconds_until_next"] <= 86400
    assert status["offset_seconds"] == 10800


async def test_a_slot_that_fell_while_stopped_is_skipped() -> None:
    interval = 0.4
    calls = SlotCalls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls, interval, offset=0.0)
    # Start right after a slot: without catch-up the first run is the next slot.
    now = time.time()
    await asyncio.sleep(interval - (now % interval) + 0.05)
    started = time.time()
    async with running(scheduler):
        await calls.wait_for(1)
    assert calls.slots[0] is not None
    assert calls.slots[0].timestamp() > started


async def test_catch_up_runs_only_the_latest_missed_slot_once() -> None:
    interval = 0.2
    calls = SlotCalls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls, interval, offset=0.0)
    now = time.time()
    await asyncio.sleep(interval - (now % interval) + 0.05)
    started = time.time()
    run = asyncio.create_task(scheduler.start(catch_up=1.0))  # five slots fell in the window
    try:
        await calls.wait_for(1)
        first_call = time.time()
        await calls.wait_for(2)
    finally:
        scheduler.stop()
        await run
    slots = [slot.timestamp() for slot in calls.slots if slot is not None]
    assert slots[0] < started < slots[1]  # one slot from before the start: the latest one
    assert started - slots[0] < interval
    assert first_call - started < 0.05


@pytest.mark.parametrize("step", [3600.0, -3600.0, 30.0, -30.0])
async def test_a_wall_clock_step_causes_no_burst_and_no_double_run(step: float) -> None:
    interval, offset = 0.2, 0.0
    clock = SteppedClock()
    calls = SlotCalls(clock)
    scheduler = Scheduler(wall_clock=clock)
    async with running(scheduler):
        scheduler.add_task("t", calls, interval, offset=offset)
        await calls.wait_for(2)
        clock.step = step
        stepped_at = time.monotonic()
        await asyncio.sleep(0.7)
        after_step = [t for t in calls.times if t > stepped_at]
        if step < 0:
            # The clock went back: the slots it shows again have run; none runs twice, so
            # the task waits for the clock to reach a new slot.
            assert after_step == []
            status = scheduler.get_task_status("t")
            assert status is not None
            assert status["seconds_until_next"] > -step - 1
        else:
            # Forward: the slots jumped over are one run, then the grid goes on; never a burst.
            assert 2 <= len(after_step) <= 4  # 0.7 s at 0.2 s: 3 or 4 on the grid
    starts = sorted(calls.times)
    assert all(b - a >= interval / 2 for a, b in itertools.pairwise(starts))
    slots = [slot for slot in calls.slots if slot is not None]
    assert len(slots) == len(set(slots))  # no slot ran twice
    assert all(on_grid(slot.timestamp(), interval, offset) < 1e-6 for slot in slots)


async def test_after_a_forward_step_the_task_is_back_on_the_grid() -> None:
    interval = 0.2
    clock = SteppedClock()
    calls = SlotCalls(clock)
    scheduler = Scheduler(wall_clock=clock)
    async with running(scheduler):
        scheduler.add_task("t", calls, interval, offset=0.0)
        await calls.wait_for(2)
        clock.step = 0.07  # less than an interval: the next slot is a little sooner
        await calls.wait_for(6)
    late_runs = list(zip(calls.walls, calls.slots, strict=True))[3:]
    for wall, slot in late_runs:
        assert slot is not None
        assert 0 <= wall - slot.timestamp() < 0.03  # on time by the new clock


async def test_runs_are_never_less_than_half_an_interval_apart() -> None:
    interval = 0.4
    clock = SteppedClock()
    calls = SlotCalls(clock)
    scheduler = Scheduler(wall_clock=clock)
    async with running(scheduler):
        scheduler.add_task("t", calls, interval, offset=0.0)
        await calls.wait_for(1)
        clock.step = 0.3  # the next slot now looks 0.1 s away: too soon after the last run
        await calls.wait_for(3)
    assert min(b - a for a, b in itertools.pairwise(calls.times)) >= interval / 2 - 0.01


async def test_a_retime_moves_to_the_new_grid_at_least_half_an_interval_on() -> None:
    calls = SlotCalls()
    scheduler = Scheduler()
    async with running(scheduler):
        scheduler.add_task("t", calls, 0.2, offset=0.0)
        await calls.wait_for(1)
        retimed = time.monotonic()
        scheduler.update_task_interval("t", 0.6, offset=0.3)
        await calls.wait_for(3)
    assert calls.times[1] - calls.times[0] >= 0.3  # half of the new interval
    assert calls.times[1] - retimed < 0.3 + 0.6 + 0.05  # the first such slot, no later
    for slot in calls.slots[1:]:
        assert slot is not None
        assert on_grid(slot.timestamp(), 0.6, 0.3) < 1e-6


async def test_an_offset_not_below_the_interval_is_refused_and_changes_nothing() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", lambda: None, 10, offset=5)
    for bad in (-1, 10, 11, math.nan, math.inf, True, "5"):
        with pytest.raises(ValueError, match="offset"):
            scheduler.update_task_offset("t", bad)
    with pytest.raises(ValueError, match="offset"):
        scheduler.update_task_interval("t", 4)  # the offset 5 is not below 4
    assert (scheduler.tasks["t"].interval_seconds, scheduler.tasks["t"].offset_seconds) == (10, 5)
    with pytest.raises(ValueError, match="offset"):
        scheduler.add_task("u", lambda: None, 10, offset=10)
    assert "u" not in scheduler.tasks


async def test_enable_moves_to_the_next_slot_and_run_now_leaves_the_grid_alone() -> None:
    calls = SlotCalls()
    scheduler = Scheduler()
    async with running(scheduler):
        scheduler.add_task("t", calls, 0.5, offset=0.1)
        before = scheduler.get_task_status("t")
        assert before is not None
        requested = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        assert scheduler.run_now("t", scheduled_at=requested) is True
        await calls.wait_for(1)
        after = scheduler.get_task_status("t")
        assert after is not None
        assert after["next_run"] == before["next_run"]  # Run now did not move the grid
        assert calls.slots[0] == requested
        scheduler.disable_task("t")
        scheduler.enable_task("t")
        await calls.wait_for(2)
    assert calls.slots[1] is not None
    assert on_grid(calls.slots[1].timestamp(), 0.5, 0.1) < 1e-6
    assert calls.times[1] - calls.times[0] >= 0.25


async def test_an_unaligned_task_keeps_the_seed_semantics() -> None:
    calls = SlotCalls()
    scheduler = Scheduler()
    async with running(scheduler):
        added = time.monotonic()
        scheduler.add_task("t", calls, 0.1)
        await calls.wait_for(2)
    assert calls.times[0] - added == pytest.approx(0.1, abs=0.02)
    assert calls.slots[0] is not None  # the slot is the due time, as a wall-clock time
    assert calls.walls[0] - calls.slots[0].timestamp() < 0.02


async def test_start_keeps_a_slot_still_ahead_and_moves_one_that_fell_while_stopped() -> None:
    clock = SteppedClock()
    scheduler = Scheduler(wall_clock=clock)
    scheduler.add_task("hourly", lambda: None, 3600, offset=0)
    ahead = scheduler.tasks["hourly"].next_run
    assert ahead is not None
    async with running(scheduler):
        assert scheduler.tasks["hourly"].next_run == ahead
    clock.step = 3600.0  # the slot fell while the scheduler was stopped
    async with running(scheduler):
        assert scheduler.tasks["hourly"].next_run == ahead + timedelta(hours=1)
        status = scheduler.get_task_status("hourly")
        assert status is not None
        assert 0 < status["seconds_until_next"] <= 3600
