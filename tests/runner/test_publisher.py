"""StatusPublisher: what is published, for how long, and how often."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache

import autosched
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import RunEvent, Scheduler
from autosched.status import STANDBY_KEY, STATUS_KEY, TASKS_KEY, read_status
from tests.waiting import wait_until


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.delete_many([STATUS_KEY, STANDBY_KEY, TASKS_KEY])
    yield
    cache.delete_many([STATUS_KEY, STANDBY_KEY, TASKS_KEY])


@pytest.fixture
def scheduler() -> Scheduler:
    scheduler = Scheduler()
    scheduler.add_task("alpha", job, 60)
    scheduler.add_task("beta", job, 30, enabled=False)
    return scheduler


@pytest.fixture
def publisher(scheduler: Scheduler) -> Iterator[StatusPublisher]:
    publisher = StatusPublisher(scheduler, info={"database": "default"})
    yield publisher
    publisher.stop()


def test_the_snapshot_holds_a_heartbeat(publisher: StatusPublisher) -> None:
    heartbeat = publisher.snapshot()["scheduler"]
    assert heartbeat["host"] == socket.gethostname()
    assert heartbeat["pid"] == os.getpid()
    assert heartbeat["version"] == autosched.__version__
    assert heartbeat["role"] == "active"
    assert heartbeat["database"] == "default"
    assert (heartbeat["tasks_loaded"], heartbeat["tasks_enabled"]) == (2, 1)
    assert datetime.fromisoformat(heartbeat["started_at"]) <= datetime.now(UTC)


def test_the_snapshot_holds_each_tasks_status(
    publisher: StatusPublisher, scheduler: Scheduler
) -> None:
    tasks = publisher.snapshot()["tasks"]
    assert set(tasks) == {"alpha", "beta"}
    expected = scheduler.get_task_status("alpha")
    assert expected is not None
    moving = ("next_run", "seconds_until_next")  # read a moment apart
    assert {k: v for k, v in tasks["alpha"].items() if k not in moving} == {
        k: v for k, v in expected.items() if k not in moving
    }
    for key in ("running", "last_outcome", "last_duration", "last_error", "run_count"):
        assert key in tasks["alpha"]
    assert tasks["beta"]["next_run"] is None


async def test_the_snapshot_trims_the_last_error(
    publisher: StatusPublisher, scheduler: Scheduler
) -> None:
    def fail() -> None:
        raise RuntimeError("x" * 2000)

    scheduler.add_task("failing", fail, 60)
    await scheduler.run_task(scheduler.tasks["failing"])
    status = publisher.snapshot()["tasks"]["failing"]
    assert status["last_outcome"] == "error"
    assert status["error_count"] == 1
    assert status["last_error"].startswith("RuntimeError: xxx")
    assert len(status["last_error"]) == 300
    assert status["last_error"].endswith("…")


def test_publish_writes_the_snapshot_with_the_ttl(
    publisher: StatusPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts: dict[str, float] = {}
    original = FileBasedCache.set

    def spy(self: FileBasedCache, key: str, value: Any, timeout: Any = None, **kw: Any) -> None:
        timeouts[key] = timeout
        original(self, key, value, timeout, **kw)

    monkeypatch.setattr(FileBasedCache, "set", spy)
    publisher.publish()
    assert timeouts[STATUS_KEY] == 5.0
    # The tasks outlive the heartbeat a little, so they never vanish between two writes.
    assert 6.0 <= timeouts[TASKS_KEY] < 7.0
    status = read_status()
    assert status["alive"]
    assert status["scheduler"]["pid"] == os.getpid()
    assert set(status["tasks"]) == {"alpha", "beta"}


def test_the_ttl_and_cache_come_from_settings(scheduler: Scheduler, settings: Any) -> None:
    settings.AUTOSCHED_STATUS_TTL = 2
    settings.AUTOSCHED_STATUS_CACHE = "other"
    publisher = StatusPublisher(scheduler)
    assert (publisher.ttl, publisher.cache_alias) == (2.0, "other")


def test_start_publishes_at_once_and_stop_removes_the_snapshot(
    publisher: StatusPublisher,
) -> None:
    publisher.start()
    wait_until(lambda: read_status()["alive"], "the first snapshot")
    publisher.stop()
    assert not read_status()["alive"]
    assert cache.get_many([STATUS_KEY, TASKS_KEY]) == {}


def test_it_publishes_every_second(scheduler: Scheduler) -> None:
    publisher = StatusPublisher(scheduler, every=0.05)
    publisher.start()
    try:
        wait_until(lambda: publisher.published >= 3, "three snapshots")
    finally:
        publisher.stop()


def test_a_burst_of_runs_is_coalesced(scheduler: Scheduler) -> None:
    # No periodic publishing during the test: only the first snapshot and the burst's.
    publisher = StatusPublisher(scheduler, every=3600, min_gap=0.2)
    publisher.start()
    try:
        wait_until(lambda: publisher.published == 1, "the first snapshot")
        began = time.monotonic()
        task = scheduler.tasks["alpha"]
        for _ in range(10_000):
            publisher._on_run(RunEvent("started", task))
            publisher._on_run(RunEvent("finished", task, "ok", 0.0))
        wait_until(lambda: publisher.published == 2, "the snapshot of the burst")
        took = time.monotonic() - began
        assert publisher.published == 2
        assert took < 1.0
    finally:
        publisher.stop()


async def test_runs_trigger_a_snapshot_soon(scheduler: Scheduler) -> None:
    publisher = StatusPublisher(scheduler, every=3600, min_gap=0.01)
    publisher.start()
    try:
        wait_until(lambda: publisher.published == 1, "the first snapshot")
        await scheduler.run_task(scheduler.tasks["alpha"])
        wait_until(lambda: read_status()["tasks"]["alpha"]["run_count"] == 1, "the run's snapshot")
    finally:
        publisher.stop()


def test_the_publisher_never_reads_the_cache(
    scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers: list[str] = []
    original = FileBasedCache.get

    def spy(self: FileBasedCache, *args: Any, **kwargs: Any) -> Any:
        readers.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FileBasedCache, "get", spy)
    monkeypatch.setattr(FileBasedCache, "get_many", spy)
    monkeypatch.setattr(FileBasedCache, "has_key", spy)
    publisher = StatusPublisher(scheduler, every=0.02)
    publisher.start()
    try:
        wait_until(lambda: publisher.published >= 3, "three snapshots")
    finally:
        publisher.stop()
    assert "autosched-status" not in readers


def test_a_standby_scheduler_does_not_hide_the_active_one(publisher: StatusPublisher) -> None:
    publisher.role = lambda: "standby"
    publisher.publish()
    assert not read_status()["alive"]
    assert cache.get(STANDBY_KEY)["role"] == "standby"
    assert cache.get(TASKS_KEY) is None  # a standby runs nothing, so reports no tasks


def test_a_large_schedule_is_snapshotted_less_often_than_the_heartbeat(
    scheduler: Scheduler,
) -> None:
    publisher = StatusPublisher(scheduler, every=0.02)
    publisher.start()
    try:
        wait_until(lambda: publisher.published == 1, "the first snapshot")
        publisher._cost = 10.0  # as if the snapshot took 10 s to build: space them widely
        beats = publisher.beats
        wait_until(lambda: publisher.beats >= beats + 5, "five more heartbeats")
        assert publisher.published <= 2  # at most one written before the cost was set
        assert read_status()["alive"]
    finally:
        publisher.stop()


def test_a_cache_error_is_logged_once_and_never_raised(
    publisher: StatusPublisher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(FileBasedCache, "set", broken)
    with caplog.at_level(logging.WARNING, "autosched"):
        publisher.publish()
        publisher.publish()
    assert publisher.published == 0
    assert [r.getMessage() for r in caplog.records] == [
        "Cannot publish the scheduler status to cache 'default' (OSError: disk full); retrying."
    ]
    monkeypatch.undo()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "autosched"):
        publisher.publish()
    assert publisher.published == 1
    assert "again" in caplog.text
