"""How one run happens: sync in a thread, async on the loop, errors contained, listeners told."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time

import pytest

from autosched import Scheduler
from autosched.scheduler import RunEvent
from tests.scheduler.helpers import Calls, gaps, running

# -- isolation: threads, no head-of-line blocking ----------------------------------------


async def test_sync_functions_run_in_worker_threads_async_ones_on_the_loop() -> None:
    sync_calls, async_calls = Calls(), Calls()
    scheduler = Scheduler()
    async with running(scheduler):
        scheduler.add_task("sync", sync_calls, 0.02)
        scheduler.add_task("async", async_calls.coro, 0.02)
        await sync_calls.wait_for(1)
        await async_calls.wait_for(1)
    loop_thread = threading.get_ident()
    assert sync_calls.threads[0] != loop_thread
    assert async_calls.threads[0] == loop_thread


async def test_a_blocking_sync_task_never_delays_another_task() -> None:
    fast = Calls()
    scheduler = Scheduler()
    scheduler.add_task("blocker", functools.partial(time.sleep, 1.0), 0.05)
    scheduler.add_task("fast", fast.coro, 0.05)
    async with running(scheduler):
        await fast.wait_for(16, timeout=2)
    assert max(gaps(fast.times)) < 0.08


async def test_async_callable_objects_and_partials_are_awaited() -> None:
    calls = Calls()

    class Job:
        async def __call__(self) -> None:
            await calls.coro()

    async def job(tag: str) -> None:
        await calls.coro()

    scheduler = Scheduler()
    scheduler.add_task("object", Job(), 0.02)
    scheduler.add_task("partial", functools.partial(job, "x"), 0.02)
    async with running(scheduler):
        await calls.wait_for(2)
    assert set(calls.threads) == {threading.get_ident()}


async def test_sync_callable_returning_a_coroutine_is_awaited() -> None:
    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_task("lambda", lambda: calls.coro(), 0.02)
    async with running(scheduler):
        await calls.wait_for(1)
    assert scheduler.tasks["lambda"].last_outcome == "ok"


# -- errors are contained ----------------------------------------------------------------


async def test_a_failing_task_is_logged_with_traceback_and_rescheduled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    healthy = Calls()
    failures = Calls()

    def fail() -> None:
        failures()
        raise RuntimeError("disk full")

    scheduler = Scheduler()
    scheduler.add_task("fails", fail, 0.03)
    scheduler.add_task("healthy", healthy.coro, 0.03)
    with caplog.at_level(logging.ERROR, logger="autosched"):
        async with running(scheduler):
            await failures.wait_for(3)
            await healthy.wait_for(3)
    record = next(r for r in caplog.records if "'fails' failed" in r.getMessage())
    assert record.exc_info is not None
    assert "disk full" in caplog.text
    status = scheduler.get_task_status("fails")
    assert status is not None
    assert status["last_outcome"] == "error"
    assert status["last_error"] == "RuntimeError: disk full"
    assert status["error_count"] >= 3


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), asyncio.CancelledError()])
async def test_even_base_exceptions_from_a_task_do_not_kill_the_loop(exc: BaseException) -> None:
    calls = Calls()

    async def fatal() -> None:
        calls()
        raise exc

    scheduler = Scheduler()
    scheduler.add_task("fatal", fatal, 0.03)
    async with running(scheduler):
        await calls.wait_for(2)
        assert scheduler.is_running()
    assert scheduler.tasks["fatal"].error_count >= 2


# -- listeners ---------------------------------------------------------------------------


async def test_listeners_hear_each_run_start_finish_and_skip() -> None:
    events: list[RunEvent] = []
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    def fail() -> None:
        raise OSError("gone")

    scheduler = Scheduler()
    scheduler.add_listener(events.append)
    scheduler.add_task("slow", slow, 3600)
    scheduler.add_task("fail", fail, 3600)
    first = asyncio.create_task(scheduler.run_task(scheduler.tasks["slow"]))
    await asyncio.sleep(0)
    await scheduler.run_task(scheduler.tasks["slow"])  # overlaps: skipped
    release.set()
    await first
    await scheduler.run_task(scheduler.tasks["fail"])
    seen = [(e.kind, e.task.name, e.outcome) for e in events]
    assert seen == [
        ("started", "slow", None),
        ("skipped", "slow", None),
        ("finished", "slow", "ok"),
        ("started", "fail", None),
        ("finished", "fail", "error"),
    ]
    assert isinstance(events[-1].error, OSError)
    assert events[-1].duration is not None


async def test_a_failing_listener_is_logged_and_runs_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: RunEvent) -> None:
        raise RuntimeError("listener bug")

    calls = Calls()
    scheduler = Scheduler()
    scheduler.add_listener(broken)
    scheduler.add_task("t", calls, 3600)
    with caplog.at_level(logging.ERROR, logger="autosched"):
        await scheduler.run_task(scheduler.tasks["t"])
    scheduler.remove_listener(broken)
    await scheduler.run_task(scheduler.tasks["t"])
    assert calls.count == 2
    assert scheduler.tasks["t"].last_outcome == "ok"
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Run listener")]
    assert len(failures) == 2  # started and finished; nothing once removed
