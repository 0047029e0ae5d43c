"""StatusPublisher: what is published, for how long, and how often."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache

import autosched
from autosched.runner.identity import Identity
from autosched.runner.publisher import StatusPublisher
from autosched.runner.recent_runs import TRACEBACK_LINES
from autosched.scheduler import RunEvent, Scheduler
from autosched.status import (
    LAST_KNOWN_TTL,
    STATUS_KEY,
    TASKS_KEY,
    read_runs,
    read_status,
    runs_key,
)
from tests.waiting import wait_until


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()  # the test run's own cache directory
    yield
    cache.clear()


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
        **{k: v for k, v in expected.items() if k not in moving},
        "run_on": "process",
    }
    for key in ("running", "last_outcome", "last_duration", "last_error", "run_count"):
        assert key in tasks["alpha"]
    assert tasks["beta"]["next_run"] is None


async def test_a_worker_rows_run_is_published_as_its_enqueue(scheduler: Scheduler) -> None:
    def enqueue_fails() -> None:
        raise ConnectionError("broker down")

    scheduler.add_task("remote", enqueue_fails, 60)
    await scheduler.run_task(scheduler.tasks["remote"])
    publisher = StatusPublisher(scheduler, worker_rows=lambda: {"remote"})
    status = publisher.snapshot()["tasks"]["remote"]
    enqueued = scheduler.tasks["remote"].last_run
    assert enqueued is not None
    assert {k: status[k] for k in ("run_on", "last_enqueued", "enqueue_outcome")} == {
        "run_on": "worker",
        "last_enqueued": enqueued.isoformat(),
        "enqueue_outcome": "error",
    }
    assert status["enqueue_error"] == "ConnectionError: broker down"
    assert (status["enqueue_count"], status["enqueue_error_count"]) == (1, 1)
    assert status["enqueue_duration"] is not None
    assert status["enqueuing"] is False
    # The run's keys never describe the enqueue: the worker's report fills them when read.
    assert (status["last_run"], status["last_outcome"], status["last_error"]) == (None,) * 3
    assert (status["run_count"], status["error_count"], status["running"]) == (0, 0, False)
    assert publisher.snapshot()["tasks"]["alpha"]["run_on"] == "process"


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
    # The tasks outlive the heartbeat: the last known status, shown once it is gone.
    assert timeouts[TASKS_KEY] == LAST_KNOWN_TTL
    status = read_status()
    assert status["alive"]
    assert status["scheduler"]["pid"] == os.getpid()
    assert set(status["tasks"]) == {"alpha", "beta"}


def test_the_ttl_and_cache_come_from_settings(scheduler: Scheduler, settings: Any) -> None:
    settings.AUTOSCHED_STATUS_TTL = 2
    settings.AUTOSCHED_STATUS_CACHE = "other"
    publisher = StatusPublisher(scheduler)
    assert (publisher.ttl, publisher.cache_alias) == (2.0, "other")


def test_start_publishes_at_once_and_stop_removes_the_heartbeat(
    publisher: StatusPublisher,
) -> None:
    publisher.start()
    wait_until(lambda: read_status()["alive"], "the first snapshot")
    publisher.stop()
    status = read_status()
    assert not status["alive"]
    assert cache.get(STATUS_KEY) is None
    # What was last known stays, said to be from this process, as of its time.
    last = status["last_known"]
    assert (last["host"], last["pid"]) == (socket.gethostname(), os.getpid())
    assert set(last["tasks"]) == {"alpha", "beta"}


async def test_the_last_known_status_holds_the_runs_that_ended_on_the_way_out(
    scheduler: Scheduler,
) -> None:
    publisher = StatusPublisher(scheduler, every=3600, min_gap=3600)
    publisher.start()
    wait_until(lambda: publisher.published == 1, "the first snapshot")
    await scheduler.run_task(scheduler.tasks["alpha"])  # not published before the stop
    publisher.stop()
    assert read_status()["last_known"]["tasks"]["alpha"]["run_count"] == 1


def test_a_long_lived_snapshot_of_another_scheduler_is_not_live(
    publisher: StatusPublisher,
) -> None:
    publisher.publish()
    other = StatusPublisher(Scheduler(), identity=Identity(host="web-2", pid=7, token="x"))
    beat = other.heartbeat()  # its heartbeat only, no tasks yet
    cache.set(STATUS_KEY, beat, timeout=5)
    status = read_status()
    assert status["alive"]
    assert status["scheduler"]["host"] == "web-2"
    assert status["tasks"] == {}  # alpha and beta were another process's


def test_a_standby_that_becomes_active_writes_its_tasks_before_its_heartbeat(
    publisher: StatusPublisher,
) -> None:
    role = "standby"
    publisher.role = lambda: role
    publisher.publish()
    role = "active"
    publisher.publish_heartbeat()  # the loop's heartbeat, between two tasks snapshots
    status = read_status()
    assert status["alive"]
    assert set(status["tasks"]) == {"alpha", "beta"}
    assert status["standbys"] == []


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


def test_a_change_triggers_a_snapshot_soon(scheduler: Scheduler) -> None:
    publisher = StatusPublisher(scheduler, every=3600, min_gap=0.01)
    publisher.start()
    try:
        wait_until(lambda: publisher.published == 1, "the first snapshot")
        scheduler.update_task_interval("alpha", 120)
        publisher.changed()
        wait_until(lambda: publisher.published == 2, "the change's snapshot", timeout=1)
        assert read_status()["tasks"]["alpha"]["interval_seconds"] == 120
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
    status = read_status()
    assert not status["alive"]
    assert [beat["role"] for beat in status["standbys"]] == ["standby"]
    assert cache.get(TASKS_KEY) is None  # a standby runs nothing, so reports no tasks


def standby(host: str) -> StatusPublisher:
    publisher = StatusPublisher(Scheduler(), identity=Identity(host=host, pid=1, token=host))
    publisher.role = lambda: "standby"
    return publisher


def test_every_standby_is_listed_beside_the_active_one(publisher: StatusPublisher) -> None:
    first, second = standby("web-2"), standby("web-3")
    publisher.publish()
    first.publish()
    second.publish()
    first.publish()  # its next heartbeat keeps the other's entry
    status = read_status()
    assert status["alive"]
    assert [beat["host"] for beat in status["standbys"]] == ["web-2", "web-3"]


def test_a_standby_that_stops_leaves_the_list(publisher: StatusPublisher) -> None:
    first, second = standby("web-2"), standby("web-3")
    first.start()
    second.start()
    try:
        wait_until(lambda: len(read_status()["standbys"]) == 2, "two standbys")
    finally:
        first.stop()
    assert [beat["host"] for beat in read_status()["standbys"]] == ["web-3"]
    second.stop()
    assert read_status()["standbys"] == []


def test_a_standby_gone_quiet_drops_out_after_the_ttl() -> None:
    standby("web-2").publish()
    later = datetime.now(UTC) + timedelta(seconds=5.5)
    assert read_status(now=later)["standbys"] == []


# Recent runs ----------------------------------------------------------------------------


def finish(publisher: StatusPublisher, task: Any, outcome: Any, error: Any = None) -> None:
    task.last_run = datetime.now(UTC)
    task.last_error = None if error is None else f"{type(error).__name__}: {error}"
    publisher._on_run(RunEvent("finished", task, outcome, 0.25, error))


def test_recent_runs_are_published_when_they_change(
    publisher: StatusPublisher, scheduler: Scheduler
) -> None:
    finish(publisher, scheduler.tasks["alpha"], "ok")
    publisher.publish()
    published = read_runs("alpha")
    assert published is not None
    assert [run["outcome"] for run in published["runs"]] == ["ok"]
    assert published["traceback"] is None
    assert read_runs("beta") is None  # never ran: nothing written
    cache.delete(runs_key("alpha"))
    publisher.publish()
    assert read_runs("alpha") is None  # unchanged: not written again


async def test_the_last_errors_traceback_is_published_trimmed(
    publisher: StatusPublisher, scheduler: Scheduler
) -> None:
    def down(depth: int) -> None:  # two functions, so Python does not fold the repeats
        if depth:
            further(depth - 1)
        raise ValueError("at the bottom")

    def further(depth: int) -> None:
        down(depth)

    scheduler.add_listener(publisher._on_run)
    scheduler.add_task("deep", lambda: down(100), 60)
    await scheduler.run_task(scheduler.tasks["deep"])
    publisher.publish()
    published = read_runs("deep")
    assert published is not None
    traceback = published["traceback"]
    assert traceback.splitlines()[0].startswith("… (")
    assert traceback.endswith("ValueError: at the bottom")
    assert len(traceback.splitlines()) == TRACEBACK_LINES + 1


async def test_a_traceback_starts_at_the_tasks_own_code(
    publisher: StatusPublisher, scheduler: Scheduler
) -> None:
    scheduler.add_listener(publisher._on_run)
    scheduler.add_task("failing", fail_here, 60)
    await scheduler.run_task(scheduler.tasks["failing"])
    publisher.publish()
    published = read_runs("failing")
    assert published is not None
    lines = published["traceback"].splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].endswith("in fail_here")  # not autosched's, nor asyncio's, frames
    assert lines[-1] == "KeyError: 'here'"


def fail_here() -> None:
    raise KeyError("here")


async def test_a_short_run_is_not_caught_running(scheduler: Scheduler) -> None:
    written: list[bool] = []
    publisher = StatusPublisher(scheduler, every=3600, min_gap=0.0, settle=0.5)
    original = publisher.tasks_status

    def spy() -> dict[str, dict[str, Any]]:
        tasks = original()
        written.append(tasks["alpha"]["running"])
        return tasks

    publisher.tasks_status = spy  # type: ignore[method-assign]
    publisher.start()
    try:
        wait_until(lambda: publisher.published == 1, "the first snapshot")
        await scheduler.run_task(scheduler.tasks["alpha"])  # starts and ends well within 0.5 s
        wait_until(lambda: publisher.published == 2, "the run's snapshot")
    finally:
        publisher.stop()
    assert written[:2] == [False, False]


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
    with caplog.at_level(logging.INFO, "autosched"):
        publisher.publish()
    assert publisher.published == 1
    [recovered] = caplog.records
    assert (recovered.levelname, recovered.getMessage()) == (
        "INFO",
        "Publishing the scheduler status to 'default' again.",
    )
