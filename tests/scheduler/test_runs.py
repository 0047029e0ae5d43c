"""How one run happens: sync in a thread, async on the loop, errors contained, listeners told."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time

import pytest

from autosched import Scheduler
from autosched.scheduler import RunEvent, current_slot
from tests.scheduler.helpers import Calls, events_of, gaps, running

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
    message = next(r.getMessage() for r in caplog.records if "'fails' failed" in r.getMessage())
    # The traceback is in the message, written by autosched so that it can trim the error.
    assert "Traceback (most recent call last)" in message
    assert 'in fail\n    raise RuntimeError("disk full")' in message
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


async def test_an_async_run_past_its_timeout_is_cancelled_as_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()
    events = events_of(scheduler)

    async def hang() -> None:
        await asyncio.sleep(60)

    scheduler.add_task("hang", hang, 60, timeout=0.1)
    with caplog.at_level(logging.ERROR, logger="autosched"):
        async with running(scheduler):
            started = time.monotonic()
            scheduler.run_now("hang")
            async with asyncio.timeout(2):
                while not any(e.kind == "finished" for e in events):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            took = time.monotonic() - started
    task = scheduler.tasks["hang"]
    assert 0.1 <= took < 0.5
    assert (task.last_outcome, task.error_count, task.running) == ("timeout", 1, False)
    assert task.last_error is not None
    assert task.last_error.startswith("Timeout: ran 0.1")
    assert [e.outcome for e in events if e.kind == "finished"] == ["timeout"]
    assert "'hang' failed" in caplog.text


async def test_an_async_run_that_swallows_its_timeout_still_counts_as_timeout() -> None:
    scheduler = Scheduler()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            return  # swallowed: the run ends, but late

    scheduler.add_task("stubborn", stubborn, 60, timeout=0.05)
    async with running(scheduler):
        scheduler.run_now("stubborn")
        async with asyncio.timeout(2):
            while scheduler.tasks["stubborn"].running:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert scheduler.tasks["stubborn"].last_outcome == "timeout"


async def test_an_async_run_that_goes_on_after_its_timeout_is_reported_as_overrunning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()
    events = events_of(scheduler)
    release = asyncio.Event()

    async def deaf() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await release.wait()  # swallowed: it keeps going

    scheduler.add_task("deaf", deaf, 0.05, timeout=0.05)
    with caplog.at_level(logging.DEBUG, logger="autosched"):
        async with running(scheduler):
            async with asyncio.timeout(2):
                while not scheduler.tasks["deaf"].overrun:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            status = scheduler.get_task_status("deaf")
            assert status is not None
            assert (status["running"], status["overrun"]) == (True, True)
            skipped = scheduler.tasks["deaf"].skip_count
            async with asyncio.timeout(2):  # later slots come and are skipped meanwhile
                while scheduler.tasks["deaf"].skip_count < skipped + 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            release.set()
            async with asyncio.timeout(2):
                while scheduler.tasks["deaf"].running:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            scheduler.disable_task("deaf")
    assert scheduler.tasks["deaf"].last_outcome == "timeout"
    assert [e.kind for e in events].count("overrun") == 1
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    overran = [i for i, (_, text) in enumerate(messages) if "went on when cancelled" in text]
    assert len(overran) == 1
    # One warning for the skipped slots, not one per slot.
    later = [text for level, text in messages[overran[0] :] if level == logging.WARNING]
    assert len(later) == 1
    assert "its slots are skipped until that run returns" in later[0]


async def test_an_async_run_that_honours_its_timeout_is_never_overrunning() -> None:
    scheduler = Scheduler()
    events = events_of(scheduler)

    async def hang() -> None:
        await asyncio.sleep(60)

    scheduler.add_task("hang", hang, 60, timeout=0.05)
    async with running(scheduler):
        scheduler.run_now("hang")
        async with asyncio.timeout(2):
            while not any(e.kind == "finished" for e in events):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert [e.kind for e in events] == ["started", "finished"]


async def test_the_tasks_own_timeout_error_is_an_error() -> None:
    scheduler = Scheduler()

    async def own() -> None:
        raise TimeoutError("upstream timed out")

    scheduler.add_task("own", own, 60, timeout=5)
    async with running(scheduler):
        scheduler.run_now("own")
        async with asyncio.timeout(2):
            while scheduler.tasks["own"].running:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    task = scheduler.tasks["own"]
    assert (task.last_outcome, task.last_error) == ("error", "TimeoutError: upstream timed out")


async def test_a_sync_run_past_its_timeout_is_reported_as_overrunning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    calls = Calls(lambda: release.wait(10))
    scheduler = Scheduler()
    events = events_of(scheduler)
    scheduler.add_task("slow", calls, 0.05, timeout=0.1)
    with caplog.at_level(logging.DEBUG, logger="autosched"):
        async with running(scheduler):
            await calls.wait_for(1)
            async with asyncio.timeout(2):
                while not scheduler.tasks["slow"].overrun:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            status = scheduler.get_task_status("slow")
            assert status is not None
            assert status["running"] is True
            assert status["overrun"] is True
            assert status["running_for"] >= 0.1
            await asyncio.sleep(0.3)  # several slots come and are skipped meanwhile
            release.set()
            async with asyncio.timeout(2):
                while scheduler.tasks["slow"].running:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            scheduler.disable_task("slow")
    task = scheduler.tasks["slow"]
    assert task.last_outcome == "timeout"
    assert task.skip_count >= 3
    assert [e.kind for e in events].count("overrun") == 1
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    overran = [i for i, (_, text) in enumerate(messages) if "past its timeout;" in text]
    assert len(overran) == 1
    assert messages[overran[0]][0] == logging.ERROR
    # After that one error, one warning for the skipped slots, not one per slot.
    later = [text for level, text in messages[overran[0] :] if level == logging.WARNING]
    assert len(later) == 1
    assert "its slots are skipped until that run returns" in later[0]


async def test_slot_is_seen_by_sync_and_async_runs() -> None:
    seen: list[object] = []
    scheduler = Scheduler()

    def sync() -> None:
        seen.append(current_slot())

    async def coro() -> None:
        seen.append(current_slot())

    scheduler.add_task("sync", sync, 60)
    scheduler.add_task("async", coro, 60)
    async with running(scheduler):
        scheduler.run_now("sync")
        scheduler.run_now("async")
        async with asyncio.timeout(2):
            while len(seen) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert all(slot is not None for slot in seen)
    assert current_slot() is None  # outside any run
