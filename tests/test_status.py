"""read_status: a snapshot is alive for its TTL; none, a stale one or a broken cache is not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache

from autosched.reports import Reporter
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import (
    PACKED_SLICE,
    TASKS_KEY,
    banner,
    cache_is_local,
    outcome_words,
    pack_tasks,
    read_status,
    task_cells,
    task_state,
    unpack_tasks,
)


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()  # the test run's own cache directory
    yield
    cache.clear()


@pytest.fixture
def publisher() -> StatusPublisher:
    """A publisher of one task's status, as ``runscheduler`` runs it elsewhere."""
    scheduler = Scheduler()
    scheduler.add_task("alpha", job, 60)
    return StatusPublisher(scheduler, info={"database": "default"})


def test_a_snapshot_older_than_the_ttl_is_not_alive(publisher: StatusPublisher) -> None:
    publisher.publish()
    published = datetime.fromisoformat(read_status()["scheduler"]["published_at"])
    assert read_status(now=published + timedelta(seconds=5))["alive"]
    stale = read_status(now=published + timedelta(seconds=5.01))
    assert not stale["alive"]
    assert stale["scheduler"] is None
    assert stale["tasks"] == {}


def test_nothing_published_is_not_alive() -> None:
    status = read_status()
    assert status == {
        "alive": False,
        "age": None,
        "ttl": 5.0,
        "cache": "default",
        "error": None,
        "scheduler": None,
        "tasks": {},
        "standbys": [],
        "last_known": None,
    }


def test_an_unreadable_cache_reads_as_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache server down")

    monkeypatch.setattr(FileBasedCache, "get_many", broken)
    status = read_status()
    assert not status["alive"]
    assert status["error"] == "ConnectionError: cache server down"


# Saying it ------------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BEAT = {
    "host": "web-1",
    "pid": 4242,
    "identity": "web-1:4242:x",
    "started_at": "2026-12-01T09:00:00+00:00",
    "published_at": "2026-12-01T10:00:00+00:00",
    "tasks_enabled": 3,
    "tasks_loaded": 4,
}
STANDBY = {**BEAT, "host": "web-2", "pid": 77, "identity": "web-2:77:y", "role": "standby"}


def status_of(**fields: Any) -> dict[str, Any]:
    return {
        "alive": False,
        "ttl": 5.0,
        "cache": "default",
        "error": None,
        "scheduler": None,
        "tasks": {},
        "standbys": [],
        "last_known": None,
        **fields,
    }


def test_the_banner_names_the_active_scheduler_and_the_standbys() -> None:
    text = banner(status_of(alive=True, scheduler=BEAT, standbys=[STANDBY]))
    assert text == (
        "Scheduler alive: 1 active on web-1 (pid 4242) since 2026-12-01 09:00:00 UTC; "
        "3 of 4 task(s) enabled. 1 standby on web-2 (pid 77)."
    )


def test_the_banner_names_standbys_when_none_is_active() -> None:
    assert banner(status_of(standbys=[STANDBY, {**STANDBY, "host": "web-3"}])) == (
        "No scheduler has reported in the last 5 s. 2 standbys on web-2 (pid 77), "
        "web-3 (pid 77), none active."
    )


def test_the_banner_says_as_of_when_the_last_known_status_was() -> None:
    last = {"published_at": "2026-12-01T09:59:00+00:00", "host": "web-1", "pid": 4242}
    assert banner(status_of(last_known=last)).endswith(
        "Showing the last known status, as of 2026-12-01 09:59:00 UTC (from web-1 (pid 4242))."
    )


def test_the_banner_says_why_a_process_local_cache_shows_nothing(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert cache_is_local()
    text = banner(status_of())
    assert text.startswith("Live status is unavailable: the status cache 'default' (LocMemCache)")
    assert "(autosched.W002)" in text


def test_the_banner_gives_a_cache_error_only_in_detail() -> None:
    broken = status_of(error="ConnectionError: refused")
    assert (
        banner(broken)
        == "Cannot read the live status from cache 'default': ConnectionError: refused"
    )
    assert banner(broken, detail=False) == "The live status cannot be read right now."


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, "never"),
        ({"running": True}, "running"),
        ({"last_run": "x", "run_count": 1, "last_outcome": "ok"}, "ok"),
        ({"last_run": "x", "run_count": 1, "last_outcome": "error"}, "failing"),
        ({"last_run": "x", "run_count": 1, "last_outcome": "timeout"}, "failing"),
        ({"last_run": "x", "run_count": 1, "last_outcome": "cancelled"}, "cancelled"),
        ({"running": True, "overrun": True}, "failing"),
        ({"run_count": 3, "last_outcome": "ok", "enqueue_outcome": "error"}, "failing"),
    ],
)
def test_the_state_of_a_task(fields: dict[str, Any], state: str) -> None:
    assert task_state({"run_count": 0, "last_run": None, **fields}) == state
    assert task_state(None) == "unknown"


def test_the_cells_of_a_worker_row_say_where_it_ran_and_the_enqueue() -> None:
    status = {
        "enabled": True,
        "run_on": "worker",
        "last_run": "2026-12-01T09:59:57+00:00",
        "last_outcome": "error",
        "last_duration": 0.012,
        "last_error": "ValueError: bad",
        "run_count": 4,
        "error_count": 1,
        "worker_host": "w2",
        "worker_pid": 9,
        "last_enqueued": "2026-12-01T09:59:59+00:00",
        "enqueue_outcome": "ok",
    }
    cells = task_cells(status, NOW)
    assert (cells["outcome"], cells["last_run"]) == ("failed (12 ms)", "3 s ago")
    assert (cells["worker"], cells["enqueue"]) == ("on host w2, pid 9", "enqueued 1 s ago")
    assert cells["runs"] == "4 (1 failed)"
    failed = task_cells({**status, "enqueue_outcome": "error", "enqueue_error": "Redis down"}, NOW)
    assert failed["enqueue"] == "enqueue failed 1 s ago: Redis down"


def test_the_cells_of_a_run_past_its_timeout() -> None:
    status = {"enabled": True, "running": True, "running_for": 75.0, "overrun": True}
    assert task_cells(status, NOW)["running"] == "overrunning its timeout, for 1 min 15 s"
    assert task_cells({**status, "overrun": False}, NOW)["running"] == "running for 1 min 15 s"


@pytest.mark.parametrize(
    ("outcome", "words"),
    [("ok", "ok"), ("error", "failed"), ("timeout", "timed out"), ("cancelled", "cancelled")],
)
def test_outcomes_in_words(outcome: str, words: str) -> None:
    assert outcome_words(outcome) == words


def test_a_worker_rows_run_is_read_from_its_workers_report() -> None:
    scheduler = Scheduler()
    scheduler.add_task("remote", job, 60)
    scheduler.add_task("local", job, 60)
    publisher = StatusPublisher(scheduler, worker_rows=lambda: {"remote": 7})
    started = datetime(2026, 12, 1, 9, 59, 57, tzinfo=UTC)
    Reporter().finished(
        7,
        "remote",
        slot="s",
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        scheduled_at=None,
        outcome="error",
        error="ValueError: bad",
        host="w2",
        pid=9,
    )
    Reporter().finished(  # a report of a process row is never read
        8,
        "local",
        slot="s",
        started_at=started,
        finished_at=started,
        scheduled_at=None,
        outcome="error",
        error="nope",
        host="w2",
        pid=9,
    )
    publisher.publish()
    for tasks in (
        read_status()["tasks"],
        read_status(now=datetime.now(UTC) + timedelta(days=1))["last_known"]["tasks"],
    ):
        remote = tasks["remote"]
        assert (remote["last_outcome"], remote["last_error"]) == ("error", "ValueError: bad")
        assert (remote["last_run"], remote["worker_host"]) == (started.isoformat(), "w2")
        assert remote["enqueue_outcome"] is None  # never enqueued yet
        assert task_state(remote) == "failing"
        assert tasks["local"]["last_outcome"] is None


def test_an_unreadable_report_leaves_the_run_unknown_not_the_enqueue(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import autosched.status

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("down")

    scheduler = Scheduler()
    scheduler.add_task("remote", job, 60)
    StatusPublisher(scheduler, worker_rows=lambda: {"remote": 7}).publish()
    monkeypatch.setattr(autosched.status, "read_reports", down)
    remote = read_status()["tasks"]["remote"]
    assert (remote["run_on"], remote["last_outcome"], remote["run_count"]) == ("worker", None, 0)
    assert "Cannot read the worker reports from cache 'default': down" in caplog.text


def test_many_tasks_are_written_in_pickled_slices_and_read_back_whole() -> None:
    scheduler = Scheduler()
    names = [f"task-{number:05d}" for number in range(2 * PACKED_SLICE + 1)]
    for name in names:
        scheduler.add_task(name, job, 3600)
    StatusPublisher(scheduler).publish()
    written = cache.get(TASKS_KEY)
    assert written["tasks"] == {}
    assert [start for start, _ in written["slices"]] == names[::PACKED_SLICE]
    slices = cache.get_many([key for _, key in written["slices"]])
    assert [type(packed) for packed in slices.values()] == [bytes] * 3
    status = read_status()
    assert "slices" not in status["tasks"]
    assert sorted(status["tasks"]) == names
    assert status["tasks"]["task-00000"]["interval_seconds"] == 3600


def test_unpack_reads_a_plain_tasks_dict_too() -> None:
    tasks = {"a": {"enabled": True}, "b": {"enabled": False}}
    assert unpack_tasks(pack_tasks(tasks)) == tasks
    assert unpack_tasks({"tasks": tasks}) == tasks  # as an earlier version wrote it
    assert unpack_tasks(pack_tasks({})) == {}
