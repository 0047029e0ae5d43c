"""SchedulerRunner: the sync loop, its error backoff, and running the scheduler while it leads."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, NoReturn
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connections

from autosched.models import PeriodicTask, SchedulerLease
from autosched.runner import SchedulerRunner
from autosched.runner.leadership import Leadership
from autosched.runner.runner import MAX_BACKOFF
from autosched.runner.sync import Changes
from tests.runner.helpers import in_thread
from tests.testapp import tasks
from tests.waiting import wait_until, wait_until_async

SYNC = "tests.testapp.tasks.no_default"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_connections"),
]


@pytest.fixture
async def loaded() -> AsyncIterator[SchedulerRunner]:
    runner = SchedulerRunner(sync_interval=1)
    await runner.load()
    yield runner
    await runner.aclose()


@pytest.fixture
async def running() -> AsyncIterator[SchedulerRunner]:
    runner = SchedulerRunner(sync_interval=0.05)
    await runner.load()
    task = asyncio.create_task(runner.run())
    await wait_until_async(runner.scheduler.is_running, "the scheduler to start")
    yield runner
    runner.request_stop()
    async with asyncio.timeout(5):
        await task


def fail(*args: Any) -> NoReturn:
    raise OperationalError("server closed the connection unexpectedly\nmore detail")


def test_sync_interval_must_be_positive() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sync_interval"):
            SchedulerRunner(sync_interval=bad)
    with pytest.raises(TypeError, match="sync_interval"):
        SchedulerRunner(sync_interval="1")  # type: ignore[arg-type]


def test_defaults_come_from_settings(settings: Any) -> None:
    settings.AUTOSCHED_SYNC_INTERVAL = 0.5
    settings.AUTOSCHED_GRACE_PERIOD = 3.0
    settings.AUTOSCHED_MAX_WORKERS = 4
    runner = SchedulerRunner()
    assert runner.sync_interval == 0.5
    assert runner.scheduler.grace_period == 3.0
    assert runner.scheduler.max_workers == 4


async def test_load_creates_default_rows_and_loads_them() -> None:
    await sync_to_async(PeriodicTask.objects.all().delete)()
    runner = SchedulerRunner(sync_interval=1)
    await runner.load()
    await runner.aclose()
    assert "testapp.heartbeat" in runner.scheduler.tasks
    assert not runner.scheduler.tasks["testapp.async_heartbeat"].enabled


async def test_change_made_while_running_is_applied(running: SchedulerRunner) -> None:
    await sync_to_async(PeriodicTask.objects.create)(
        name="live", function=SYNC, interval_seconds=30
    )
    await wait_until_async(lambda: "live" in running.scheduler.tasks, "the new row to be loaded")
    await sync_to_async(PeriodicTask.objects.filter(name="live").update)(enabled=False)
    await wait_until_async(
        lambda: not running.scheduler.tasks["live"].enabled, "the row to be disabled"
    )


async def test_a_change_applied_is_published_soon_not_at_the_next_beat(
    running: SchedulerRunner,
) -> None:
    with mock.patch.object(running.publisher, "changed") as changed:
        await sync_to_async(PeriodicTask.objects.create)(
            name="seen", function=SYNC, interval_seconds=30
        )
        await wait_until_async(lambda: "seen" in running.scheduler.tasks, "the row applied")
        assert changed.called
        changed.reset_mock()
        await asyncio.sleep(0.2)  # a few syncs that find nothing
        assert not changed.called


async def test_stop_requested_before_run_returns_at_once() -> None:
    runner = SchedulerRunner(sync_interval=1)
    runner.request_stop()
    async with asyncio.timeout(5):
        await runner.run()
    assert not runner.scheduler.is_running()


async def test_a_stop_does_not_wait_for_a_sync_the_database_never_answers() -> None:
    runner = SchedulerRunner(sync_interval=0.05)
    await runner.load()
    polling, answer = threading.Event(), threading.Event()

    def hang() -> Changes:
        polling.set()
        answer.wait(10)  # a black-holed connection: no answer, no error
        connections.close_all()  # this thread's, for the test database's teardown
        return Changes()

    with mock.patch.object(runner.sync, "poll", hang):
        run = asyncio.create_task(runner.run())
        await wait_until_async(polling.is_set, "a poll to hang")
        runner.request_stop()
        try:
            async with asyncio.timeout(5):  # the lease and the drain: quick here
                await run
            assert runner.database_hung  # runscheduler exits without waiting for it
        finally:
            answer.set()
    await wait_until_async(lambda: not runner.database_hung, "the poll to end")


async def test_a_stop_during_a_load_that_hangs_returns_without_loading() -> None:
    runner = SchedulerRunner(sync_interval=1)
    loading, answer = threading.Event(), threading.Event()

    def hang() -> Changes:
        loading.set()
        answer.wait(10)
        connections.close_all()
        return Changes(full=True)

    with mock.patch.object(runner.sync, "reload", hang):
        load = asyncio.create_task(runner.load())
        await wait_until_async(loading.is_set, "the load to hang")
        runner.request_stop()
        try:
            async with asyncio.timeout(5):
                await load
                await runner.run()  # returns at once: stopping, nothing loaded
        finally:
            answer.set()
    assert not runner.scheduler.tasks


async def test_database_error_is_logged_in_one_line_and_backs_off(
    loaded: SchedulerRunner, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = loaded
    monkeypatch.setattr(runner.sync, "poll", fail)
    monkeypatch.setattr(runner.sync, "reload", fail)
    with caplog.at_level(logging.WARNING, logger="autosched"):
        for _ in range(7):
            assert await runner.sync_once() is None
    assert runner.failures == 7
    assert runner.backoff() == MAX_BACKOFF
    records = [r for r in caplog.records if "Cannot sync" in r.getMessage()]
    assert len(records) == 7
    assert all(r.exc_info is None for r in records)
    assert "server closed the connection unexpectedly (" not in records[0].getMessage()
    assert "retrying in 2.0 s" in records[0].getMessage()
    assert "retrying in 4.0 s" in records[1].getMessage()


async def test_recovery_does_a_full_reload(
    loaded: SchedulerRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = loaded
    with monkeypatch.context() as patch:
        patch.setattr(runner.sync, "poll", fail)
        await runner.sync_once()
    await sync_to_async(PeriodicTask.objects.create)(name="back", function=SYNC, interval_seconds=9)
    changes = await runner.sync_once()
    assert changes is not None
    assert changes.full
    assert runner.failures == 0
    assert runner.backoff() == 1


async def test_tasks_keep_running_while_the_database_fails(
    running: SchedulerRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(running.sync, "poll", fail)
    monkeypatch.setattr(running.sync, "reload", fail)
    runs: list[float] = []
    running.scheduler.add_task("probe", lambda: runs.append(time.monotonic()), 0.05)
    await wait_until_async(
        lambda: running.failures >= 2 and len(runs) >= 5, "two failed syncs and five runs"
    )
    assert running.scheduler.is_running()


@pytest.mark.django_db
def test_runs_are_fenced_by_the_lease(caplog: pytest.LogCaptureFixture) -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="g", function=SYNC, interval_seconds=5)
    runner = SchedulerRunner()  # never started: it does not hold the lease
    runner.sync.apply(runner.scheduler, runner.sync.reload())
    tasks.calls.clear()
    task = runner.scheduler.tasks["g"]
    with caplog.at_level(logging.WARNING, logger="autosched"):
        asyncio.run(runner.scheduler.run_task(task))
    assert tasks.calls == []
    assert task.last_outcome == "cancelled"
    assert "Not running task 'g': its scheduler may no longer launch runs" in caplog.text


async def test_runner_runs_the_scheduler_only_while_holding() -> None:
    rival = Leadership(ttl=60, renew_every=2)
    runner = SchedulerRunner(sync_interval=0.05)
    runner.leadership.ttl, runner.leadership.renew_every = 0.6, 0.1
    leader = runner.leadership
    scheduler = runner.scheduler
    await runner.load()
    serving = asyncio.create_task(runner.run())
    async with asyncio.timeout(5):
        await wait_until_async(scheduler.is_running, "the scheduler to start")
        real_claim = SchedulerLease.claim

        def claim(name: str, holder: str, ttl: float, *, using: str) -> bool:
            if holder == leader.holder:
                raise OperationalError("down")
            return real_claim(name, holder, ttl, using=using)

        # The database becomes unreachable for this process: it must stop on its own, and
        # another process takes the lease over once it expired.
        with mock.patch.object(SchedulerLease, "claim", claim):
            await wait_until_async(
                lambda: not scheduler.is_running(), "the scheduler to stop on its own"
            )
            await in_thread(lambda: wait_until(rival.attempt, "the rival to take the lease"))
        await asyncio.sleep(0.3)
        assert not scheduler.is_running()
        assert runner.role == "standby"
        await in_thread(rival.release)
        await wait_until_async(scheduler.is_running, "the scheduler to start again")
        runner.request_stop()
        await serving
    assert not await in_thread(SchedulerLease.objects.filter(released=False).exists)


async def test_stop_ends_a_standby() -> None:
    rival = Leadership(ttl=60, renew_every=2)
    await in_thread(rival.attempt)
    runner = SchedulerRunner(sync_interval=0.05)
    runner.leadership.renew_every = 0.1
    await runner.load()
    serving = asyncio.create_task(runner.run())
    await asyncio.sleep(0.1)
    runner.request_stop()
    async with asyncio.timeout(5):
        await serving
    assert await in_thread(lambda: SchedulerLease.objects.get().holder) == rival.holder


async def test_runner_stands_by_until_the_lease_is_free() -> None:
    rival = Leadership(ttl=60, renew_every=2)
    await in_thread(rival.attempt)
    runner = SchedulerRunner(sync_interval=0.05)
    runner.leadership.renew_every = 0.05
    await runner.load()
    running = asyncio.create_task(runner.run())
    async with asyncio.timeout(5):
        await asyncio.sleep(0.3)  # several claims, all refused: nothing may start
        assert not runner.scheduler.is_running()
        assert (runner.role, runner.publisher.heartbeat()["role"]) == ("standby", "standby")
        await in_thread(rival.release)
        await wait_until_async(runner.scheduler.is_running, "the scheduler to start")
        assert runner.publisher.heartbeat()["role"] == "active"
        runner.request_stop()
        await running
    # Released on the way out: kept, marked released, for a standby to read.
    assert not await in_thread(SchedulerLease.objects.filter(released=False).exists)


def test_the_publisher_asks_the_sync_which_tasks_run_on_a_worker() -> None:
    runner = SchedulerRunner()
    assert runner.publisher.worker_rows == runner.sync.worker_names
