"""The Scheduler: timing, overlap, thread safety, lifecycle, status and the API's contract.

Short intervals (tens of milliseconds) keep the suite fast; every wait is bounded by
``asyncio.timeout`` and tolerances are wide enough for a loaded CI machine while still far
below what a polling design would show (hundreds of milliseconds or a whole second).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from autosched import Scheduler
from autosched.scheduler import DuplicateTaskError, TaskNotFoundError
from tests.scheduler.helpers import Calls, gaps, noop, running

STATUS_KEYS = {"name", "enabled", "interval_seconds", "last_run", "next_run", "seconds_until_next"}


# -- plain usage ------------------------------------------------------------------------


async def test_one_second_sync_and_async_tasks_each_run_twice_in_two_and_a_half_seconds() -> None:
    sync_calls, async_calls = Calls(), Calls()
    scheduler = Scheduler()
    scheduler.add_task("sync", sync_calls, 1)
    scheduler.add_task("async", async_calls.coro, 1)
    start = time.monotonic()
    loop = asyncio.get_running_loop()
    loop.call_later(2.5, scheduler.stop)
    async with asyncio.timeout(5):
        await scheduler.start()
    assert 2.5 <= time.monotonic() - start < 3.0
    assert sync_calls.count >= 2
    assert async_calls.count >= 2


async def test_first_run_comes_one_interval_after_add_then_every_interval() -> None:
    calls = Calls()
    scheduler = Scheduler()
    async with running(scheduler):
        added = time.monotonic()
        scheduler.add_task("t", calls, 0.1)
        await calls.wait_for(3)
    first, second, third = (t - added for t in calls.times[:3])
    assert 0.1 <= first < 0.13
    assert 0.2 <= second < 0.23
    assert 0.3 <= third < 0.33


# -- precise: sleeps until due, wakes on change ------------------------------------------


async def test_idle_scheduler_does_not_wake_up_at_all() -> None:
    scheduler = Scheduler()
    for i in range(1000):
        scheduler.add_task(f"hourly-{i}", noop, 3600)
    async with running(scheduler):
        await asyncio.sleep(0.3)
    assert scheduler.wakeups == 0


async def test_task_added_while_sleeping_runs_one_interval_later() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("hourly", noop, 3600)
    async with running(scheduler):
        await asyncio.sleep(0.05)  # the loop is now asleep until the hourly task
        added = time.monotonic()
        scheduler.add_task("fast", calls, 0.05)
        await calls.wait_for(1, timeout=1)
    assert 0.05 <= calls.times[0] - added < 0.08


async def test_enable_while_sleeping_runs_one_interval_later() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls, 0.05, enabled=False)
    async with running(scheduler):
        await asyncio.sleep(0.1)
        assert calls.count == 0
        enabled = time.monotonic()
        scheduler.enable_task("t")
        await calls.wait_for(1, timeout=1)
    assert 0.05 <= calls.times[0] - enabled < 0.08


async def test_retime_while_sleeping_takes_effect_at_once() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls, 3600)
    async with running(scheduler):
        await asyncio.sleep(0.05)
        retimed = time.monotonic()
        scheduler.update_task_interval("t", 0.05)  # never ran: next run = now + new interval
        await calls.wait_for(1, timeout=1)
    assert 0.05 <= calls.times[0] - retimed < 0.08


async def test_retime_after_a_run_counts_from_the_last_run() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls, 0.05)
    async with running(scheduler):
        await calls.wait_for(1)
        scheduler.update_task_interval("t", 0.3)
        await calls.wait_for(2)
    # Times are taken in the worker thread, so each carries its own hand-off delay.
    assert 0.295 <= calls.times[1] - calls.times[0] < 0.33


async def test_retime_to_an_interval_already_elapsed_runs_once_now() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls, 0.05)
    async with running(scheduler):
        await calls.wait_for(1)
        scheduler.update_task_interval("t", 3600)
        await asyncio.sleep(0.1)
        assert calls.count == 1
        retimed = time.monotonic()
        scheduler.update_task_interval("t", 0.02)  # last run + 0.02 is already past
        await calls.wait_for(2, timeout=1)
    assert calls.times[1] - retimed < 0.02


async def test_runs_start_within_a_few_milliseconds_of_their_due_time() -> None:
    calls = Calls()
    scheduler = Scheduler()
    async with running(scheduler):
        added = time.monotonic()
        scheduler.add_task("t", calls.coro, 0.02)
        await calls.wait_for(20)
    lateness = sorted(t - (added + (k + 1) * 0.02) for k, t in enumerate(calls.times[:20]))
    assert lateness[0] >= 0
    assert lateness[10] < 0.005  # median
    assert lateness[-1] < 0.02


async def test_fixed_grid_does_not_drift_when_runs_take_time() -> None:
    # Each run takes 30 ms of a 50 ms interval; a "sleep interval after each run" design would
    # drift 30 ms per run, the grid keeps every start on added + k * interval.
    calls = Calls(functools.partial(time.sleep, 0.03))
    scheduler = Scheduler()
    async with running(scheduler):
        added = time.monotonic()
        scheduler.add_task("t", calls, 0.05)
        await calls.wait_for(8)
    tenth = calls.times[7] - added
    assert 0.4 <= tenth < 0.42


# -- no overlap ------------------------------------------------------------------------


async def test_a_task_still_running_is_not_started_again_and_the_skip_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    active, peak = 0, 0
    calls = Calls()

    async def slow() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.12)
        active -= 1
        calls()

    scheduler = Scheduler()
    scheduler.add_task("slow", slow, 0.05)
    with caplog.at_level(logging.WARNING, logger="autosched"):
        async with running(scheduler):
            await calls.wait_for(2)
    assert peak == 1
    assert scheduler.tasks["slow"].skip_count >= 2
    assert "'slow' is still running from its last slot; skipped this slot" in caplog.text


# -- drift-free under stalls and clock jumps -----------------------------------------------


async def test_missed_slots_after_a_stalled_loop_coalesce_into_one_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = Calls()
    scheduler = Scheduler()
    with caplog.at_level(logging.WARNING, logger="autosched"):
        async with running(scheduler):
            added = time.monotonic()
            scheduler.add_task("t", calls.coro, 0.05)
            await calls.wait_for(1)
            time.sleep(0.35)  # noqa: ASYNC251 - block the event loop itself: ~7 slots of "t" go by
            await calls.wait_for(4)
    second, third, fourth = calls.times[1:4]
    assert third - second >= 0.02  # no burst: one catch-up run, then back on the grid
    assert fourth - third >= 0.04
    slot = round((third - added) / 0.05)
    assert abs(third - (added + slot * 0.05)) < 0.015  # the grid is the same as before
    assert scheduler.tasks["t"].skip_count >= 4
    assert "missed" in caplog.text


async def test_wall_clock_jumps_neither_burst_nor_stall_runs() -> None:
    offset = timedelta(0)

    def wall_clock() -> datetime:
        return datetime.now(UTC) + offset

    calls = Calls()
    scheduler = Scheduler(wall_clock=wall_clock)
    async with running(scheduler):
        scheduler.add_task("t", calls.coro, 0.05)
        await calls.wait_for(2)
        offset = timedelta(hours=1)  # NTP step / DST mistake / manual change forward
        await calls.wait_for(4)
        jumped_forward = scheduler.tasks["t"].last_run
        offset = timedelta(hours=-2)  # and back, past where it started
        await calls.wait_for(6)
        status = scheduler.get_task_status("t")
    assert max(gaps(calls.times)) < 0.08
    assert min(gaps(calls.times)) > 0.03
    assert jumped_forward is not None
    assert jumped_forward > datetime.now(UTC) + timedelta(minutes=59)
    assert status is not None
    assert datetime.fromisoformat(status["next_run"]) < datetime.now(UTC) - timedelta(minutes=59)
    assert 0 <= status["seconds_until_next"] <= 0.05


# -- thread-safe API -------------------------------------------------------------------


async def test_a_sync_task_can_retime_its_own_task_from_its_worker_thread() -> None:
    scheduler = Scheduler()
    calls = Calls(lambda: scheduler.update_task_interval("dynamic", 0.1))
    scheduler.add_task("dynamic", calls, 0.02)
    async with running(scheduler):
        await calls.wait_for(3)
    # Times are taken inside the worker thread, a fraction of a millisecond after launch.
    assert 0.095 <= calls.times[1] - calls.times[0] < 0.13
    assert 0.095 <= calls.times[2] - calls.times[1] < 0.13
    assert scheduler.tasks["dynamic"].interval_seconds == 0.1


async def test_a_sync_task_can_disable_itself_from_its_worker_thread() -> None:
    scheduler = Scheduler()
    calls = Calls(lambda: scheduler.disable_task("once"))
    other = Calls()
    scheduler.add_task("once", calls, 0.02)
    scheduler.add_task("other", other.coro, 0.02)
    async with running(scheduler):
        await calls.wait_for(1)
        await other.wait_for(6)
    assert calls.count == 1
    assert scheduler.get_task_status("once") == scheduler.get_task_status("once") | {
        "enabled": False,
        "next_run": None,
    }


async def test_many_threads_changing_tasks_at_once_leave_a_consistent_scheduler() -> None:
    scheduler = Scheduler()

    def churn(worker: int) -> None:
        for i in range(200):
            name = f"w{worker}-{i}"
            scheduler.add_task(name, noop, 3600)
            scheduler.update_task_interval(name, 1800)
            scheduler.disable_task(name)
            scheduler.enable_task(name)
            if i % 2:
                scheduler.remove_task(name)

    async with running(scheduler):
        await asyncio.gather(*(asyncio.to_thread(churn, w) for w in range(4)))
    assert len(scheduler.tasks) == 400
    assert all(t.interval_seconds == 1800 and t.enabled for t in scheduler.tasks.values())


async def test_stop_from_another_thread_returns_start() -> None:
    scheduler = Scheduler()
    scheduler.add_task("hourly", noop, 3600)
    timer = threading.Timer(0.05, scheduler.stop)
    timer.start()
    async with asyncio.timeout(1):
        await scheduler.start()
    assert not scheduler.is_running()


async def test_stop_from_a_signal_handler_wakes_a_sleeping_loop() -> None:
    scheduler = Scheduler()
    scheduler.add_task("hourly", noop, 3600)
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: scheduler.stop())
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        async with asyncio.timeout(1):
            await scheduler.start()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert not scheduler.is_running()


# -- lifecycle -------------------------------------------------------------------------


async def test_stop_lets_in_flight_runs_finish_within_the_grace_period() -> None:
    finished = Calls()

    async def slow() -> None:
        await asyncio.sleep(0.2)
        finished()

    scheduler = Scheduler(grace_period=2)
    scheduler.add_task("slow", slow, 0.02)
    start = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0.05)
    scheduler.stop()
    assert not scheduler.is_running()
    async with asyncio.timeout(2):
        await start
    assert finished.count == 1
    assert scheduler.tasks["slow"].last_outcome == "ok"


async def test_stop_cancels_async_runs_still_going_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def endless() -> None:
        await asyncio.sleep(3600)

    scheduler = Scheduler(grace_period=0.1)
    scheduler.add_task("endless", endless, 0.02)
    with caplog.at_level(logging.WARNING, logger="autosched"):
        start = asyncio.create_task(scheduler.start())
        await asyncio.sleep(0.05)
        scheduler.stop()
        began = time.monotonic()
        async with asyncio.timeout(1):
            await start
    assert 0.1 <= time.monotonic() - began < 0.3
    assert scheduler.tasks["endless"].last_outcome == "cancelled"
    assert "grace period" in caplog.text


async def test_stop_returns_after_the_grace_period_even_if_a_thread_is_stuck() -> None:
    release = threading.Event()
    scheduler = Scheduler(grace_period=0.1)
    scheduler.add_task("stuck", functools.partial(release.wait, 5), 0.02)
    start = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0.05)
    scheduler.stop()
    try:
        async with asyncio.timeout(1):
            await start
    finally:
        release.set()


async def test_stop_stops_launching_runs_at_once() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls.coro, 0.02)
    async with running(scheduler):
        await calls.wait_for(1)
        scheduler.stop()
        stopped_at = calls.count
        await asyncio.sleep(0.06)
    assert calls.count == stopped_at


async def test_start_returns_at_once_if_already_running() -> None:
    scheduler = Scheduler()
    async with running(scheduler):
        async with asyncio.timeout(0.1):
            await scheduler.start()
        assert scheduler.is_running()


async def test_a_stopped_scheduler_can_be_started_again() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls.coro, 0.03)
    async with running(scheduler):
        await calls.wait_for(1)
    assert not scheduler.is_running()
    first_cycle = calls.count
    await asyncio.sleep(0.1)  # slots that fall while stopped are not made up for
    restarted = time.monotonic()
    async with running(scheduler):
        await calls.wait_for(first_cycle + 1)
    assert calls.count == first_cycle + 1 or calls.times[first_cycle + 1] - restarted >= 0.06
    assert 0.03 <= calls.times[first_cycle] - restarted < 0.05


async def test_stop_when_not_running_is_harmless() -> None:
    scheduler = Scheduler()
    scheduler.stop()
    assert not scheduler.is_running()


async def test_removed_task_is_not_run_again() -> None:
    calls, other = Calls(), Calls()
    scheduler = Scheduler()
    scheduler.add_task("t", calls.coro, 0.02)
    scheduler.add_task("other", other.coro, 0.02)
    async with running(scheduler):
        await calls.wait_for(1)
        scheduler.remove_task("t")
        removed_at = calls.count
        await other.wait_for(other.count + 4)
    assert calls.count == removed_at
    assert "t" not in scheduler.tasks


# -- run_task and status ---------------------------------------------------------------


async def test_run_task_runs_once_now_and_contains_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail() -> None:
        raise ValueError("bad row")

    scheduler = Scheduler()
    scheduler.add_task("t", fail, 3600)
    with caplog.at_level(logging.ERROR, logger="autosched"):
        await scheduler.run_task(scheduler.tasks["t"])
    task = scheduler.tasks["t"]
    assert task.run_count == 1
    assert task.last_outcome == "error"
    assert task.last_run is not None
    assert "bad row" in caplog.text


async def test_run_task_skips_a_task_that_is_already_running() -> None:
    release = asyncio.Event()
    calls = Calls()

    async def wait() -> None:
        calls()
        await release.wait()

    scheduler = Scheduler()
    scheduler.add_task("t", wait, 3600)
    first = asyncio.create_task(scheduler.run_task(scheduler.tasks["t"]))
    await calls.wait_for(1)
    await scheduler.run_task(scheduler.tasks["t"])
    release.set()
    await first
    assert calls.count == 1
    assert scheduler.tasks["t"].skip_count == 1


async def test_status_has_the_contract_keys_as_iso_strings() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, 60)
    await scheduler.run_task(scheduler.tasks["t"])
    status = scheduler.get_task_status("t")
    assert status is not None
    assert status.keys() >= STATUS_KEYS
    assert status["name"] == "t"
    assert status["enabled"] is True
    assert status["interval_seconds"] == 60
    assert datetime.fromisoformat(status["last_run"]).tzinfo is not None
    assert datetime.fromisoformat(status["next_run"]) > datetime.now(UTC)
    assert 59 < status["seconds_until_next"] <= 60
    every = scheduler.get_all_tasks_status()
    assert list(every) == ["t"]
    assert every["t"]["last_run"] == status["last_run"]


async def test_status_of_a_disabled_task_has_no_next_run() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, 60, enabled=False)
    status = scheduler.get_task_status("t")
    assert status is not None
    assert status["enabled"] is False
    assert status["next_run"] is None
    assert status["seconds_until_next"] is None


def test_status_of_an_unknown_task_is_none() -> None:
    assert Scheduler().get_task_status("nope") is None


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "func", "interval", "error", "mentions"),
    [
        ("", noop, 1, ValueError, "''"),
        ("  ", noop, 1, ValueError, "'  '"),
        (None, noop, 1, TypeError, "None"),
        (42, noop, 1, TypeError, "42"),
        ("t", None, 1, TypeError, "None"),
        ("t", "myapp.tasks.job", 1, TypeError, "'myapp.tasks.job'"),
        ("t", noop, 0, ValueError, "0"),
        ("t", noop, -5, ValueError, "-5"),
        ("t", noop, math.nan, ValueError, "nan"),
        ("t", noop, math.inf, ValueError, "inf"),
        ("t", noop, True, ValueError, "True"),
        ("t", noop, "60", TypeError, "'60'"),
        ("t", noop, None, TypeError, "None"),
    ],
)
def test_add_task_rejects_bad_input_and_leaves_the_scheduler_unchanged(
    name: object, func: object, interval: object, error: type[Exception], mentions: str
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("existing", noop, 5)
    with pytest.raises(error) as info:
        scheduler.add_task(name, func, interval)  # type: ignore[arg-type]
    assert mentions in str(info.value)
    assert list(scheduler.tasks) == ["existing"]


def test_add_task_rejects_a_duplicate_name() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, 5)
    with pytest.raises(DuplicateTaskError, match="'t' already exists"):
        scheduler.add_task("t", print, 10)
    assert scheduler.tasks["t"].func is noop
    assert scheduler.tasks["t"].interval_seconds == 5


@pytest.mark.parametrize("method", ["remove_task", "enable_task", "disable_task"])
def test_unknown_names_are_rejected_by_name(method: str) -> None:
    scheduler = Scheduler()
    with pytest.raises(TaskNotFoundError, match="No task named 'ghost'"):
        getattr(scheduler, method)("ghost")
    with pytest.raises(KeyError):
        getattr(scheduler, method)(["unhashable"])


def test_update_task_interval_rejects_unknown_names_and_bad_intervals() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, 5)
    with pytest.raises(LookupError, match="'ghost'"):
        scheduler.update_task_interval("ghost", 5)
    for bad in (0, -1, math.nan, math.inf, False, "5"):
        with pytest.raises(ValueError, match=repr(bad)):
            scheduler.update_task_interval("t", bad)  # type: ignore[arg-type]
    assert scheduler.tasks["t"].interval_seconds == 5


def test_float_intervals_are_accepted() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, 0.25)
    assert scheduler.tasks["t"].interval_seconds == 0.25


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [({"grace_period": -1}, "-1"), ({"max_workers": 0}, "0"), ({"grace_period": "5"}, "'5'")],
)
def test_scheduler_rejects_bad_options(kwargs: dict[str, object], mentions: str) -> None:
    with pytest.raises(ValueError, match=mentions):
        Scheduler(**kwargs)  # type: ignore[arg-type]


# -- scale -----------------------------------------------------------------------------


async def test_a_hundred_thousand_idle_tasks_cost_nothing_while_none_is_due() -> None:
    scheduler = Scheduler()
    async with running(scheduler):
        began = time.perf_counter()
        for i in range(100_000):
            scheduler.add_task(f"t{i}", noop, 3600)
        per_add = (time.perf_counter() - began) / 100_000
        cpu_before = time.process_time()
        await asyncio.sleep(0.5)
        cpu = time.process_time() - cpu_before
    assert per_add < 50e-6  # generous for CI; bench/ measures the real figure
    assert cpu < 0.05
    assert scheduler.wakeups == 0
