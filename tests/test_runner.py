"""SchedulerRunner: the sync loop, its error backoff, and signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connections

from autosched.models import PeriodicTask
from autosched.runner import (
    FORCED_EXIT_STATUS,
    SchedulerRunner,
    stop_on_signals,
    threads_blocking_exit,
)
from autosched.runner.runner import MAX_BACKOFF
from autosched.scheduler import RUN_THREAD_PREFIX
from tests.waiting import wait_until_async

SYNC = "tests.testapp.tasks.no_default"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_thread_connections() -> AsyncIterator[None]:
    """Close the connection that sync_to_async's thread opened, so PostgreSQL can drop the DB."""
    yield
    await sync_to_async(connections.close_all)()


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
    assert "tests.testapp.tasks.heartbeat" in runner.scheduler.tasks
    assert not runner.scheduler.tasks["tests.testapp.tasks.async_heartbeat"].enabled


async def test_change_made_while_running_is_applied(running: SchedulerRunner) -> None:
    await sync_to_async(PeriodicTask.objects.create)(
        name="live", function=SYNC, interval_seconds=30
    )
    await wait_until_async(lambda: "live" in running.scheduler.tasks, "the new row to be loaded")
    await sync_to_async(PeriodicTask.objects.filter(name="live").update)(enabled=False)
    await wait_until_async(
        lambda: not running.scheduler.tasks["live"].enabled, "the row to be disabled"
    )


async def test_stop_requested_before_run_returns_at_once() -> None:
    runner = SchedulerRunner(sync_interval=1)
    runner.request_stop()
    async with asyncio.timeout(5):
        await runner.run()
    assert not runner.scheduler.is_running()


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


def test_first_signal_requests_a_stop_and_handlers_are_restored() -> None:
    runner = SchedulerRunner(sync_interval=1)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signals(runner):
        signal.raise_signal(signal.SIGTERM)
        assert runner.stop_requested
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_second_sigint_forces_an_exit() -> None:
    runner = SchedulerRunner(sync_interval=1)
    statuses: list[int] = []

    def force_exit(status: int) -> NoReturn:
        statuses.append(status)
        raise SystemExit(status)

    with stop_on_signals(runner, force_exit=force_exit):
        signal.raise_signal(signal.SIGINT)
        assert statuses == []
        with pytest.raises(SystemExit):
            signal.raise_signal(signal.SIGINT)
    assert statuses == [FORCED_EXIT_STATUS]


def test_second_sigterm_does_not_force() -> None:
    runner = SchedulerRunner(sync_interval=1)
    with stop_on_signals(runner, force_exit=pytest.fail):  # type: ignore[arg-type]
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)


async def test_signals_are_left_alone_off_the_main_thread() -> None:
    runner = SchedulerRunner(sync_interval=1)

    def enter() -> object:
        with stop_on_signals(runner):
            return signal.getsignal(signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    assert await asyncio.to_thread(enter) is before


def test_threads_blocking_exit_reports_only_run_threads_still_busy() -> None:
    release = threading.Event()
    idle_pool = ThreadPoolExecutor(max_workers=1)  # like asgiref's: idle, ended at exit
    idle = idle_pool.submit(threading.current_thread).result()
    busy_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=RUN_THREAD_PREFIX)
    started = threading.Event()

    def work() -> threading.Thread:
        started.set()
        release.wait(5)
        return threading.current_thread()

    busy = busy_pool.submit(work)
    started.wait(5)
    try:
        blocking = threads_blocking_exit(timeout=0.05)
    finally:
        release.set()
        idle_pool.shutdown()
        busy_pool.shutdown()
    assert busy.result() in blocking
    assert idle not in blocking
