"""Worker reports: written per run, keyed by the row's pk, read back validated and expired."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache

from autosched.reports import (
    REPORT_TTL,
    Reporter,
    going_on,
    lost_after,
    merge_report,
    read_reports,
    report_key,
    run_key,
)
from autosched.status import LAST_KNOWN_TTL, task_cells, task_state

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SLOT = T0 - timedelta(seconds=1)
ROW = 7


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def start(
    reporter: Reporter,
    name: str,
    at: datetime,
    host: str = "w1",
    row: int = ROW,
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    run = going_on(
        row,
        name,
        slot=at.isoformat(),
        started_at=at,
        scheduled_at=SLOT,
        host=host,
        pid=7,
        timeout=timeout,
    )
    return reporter.started(run)


def finish(
    reporter: Reporter,
    name: str,
    at: datetime,
    outcome: str = "ok",
    error: str | None = None,
    host: str = "w1",
    row: int = ROW,
) -> None:
    reporter.finished(
        row,
        name,
        slot=at.isoformat(),
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        scheduled_at=SLOT,
        outcome=outcome,
        error=error,
        host=host,
        pid=7,
    )


def read(name: str = "alpha", row: int = ROW, now: datetime = T0) -> dict[str, Any] | None:
    return read_reports({name: row}, now=now).get(name)


def test_a_finished_run_is_read_back_with_its_outcome_and_counted() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    finish(reporter, "alpha", T0, "error", "ValueError: bad")
    report = read_reports({"alpha": ROW, "beta": 8}, now=T0)["alpha"]
    assert report["finished"] == {
        "started_at": T0.isoformat(),
        "scheduled_at": SLOT.isoformat(),
        "finished_at": (T0 + timedelta(seconds=3)).isoformat(),
        "duration": 3.0,
        "outcome": "error",
        "error": "ValueError: bad",
        "host": "w1",
        "pid": 7,
    }
    assert report["running"] == []
    assert cache.get(run_key(ROW, T0.isoformat())) is None  # the run's own key is gone
    assert (report["run_count"], report["error_count"]) == (1, 1)
    finish(reporter, "alpha", T0 + timedelta(seconds=10))
    again = read()
    assert again is not None
    assert (again["run_count"], again["error_count"]) == (2, 1)


def test_a_long_error_is_trimmed() -> None:
    reporter = Reporter()
    finish(reporter, "alpha", T0, "error", "x" * 5000)
    report = read()
    assert report is not None
    error = report["finished"]["error"]
    assert len(error) == 500
    assert error.endswith("…")


def test_a_report_lives_as_long_as_the_last_known_status() -> None:
    assert REPORT_TTL == LAST_KNOWN_TTL


def test_a_run_started_on_another_worker_meanwhile_stays_running() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    start(reporter, "alpha", T0 + timedelta(seconds=1), host="w2")
    finish(reporter, "alpha", T0)
    merged = merge_report({"run_on": "worker"}, read(now=T0 + timedelta(seconds=2)))
    assert merged["running"] is True
    assert merged["worker_host"] == "w2"
    assert merged["last_outcome"] == "ok"


def test_reports_go_by_the_rows_pk_not_its_name() -> None:
    reporter = Reporter()
    finish(reporter, "nightly", T0, row=1)
    # The row is renamed: its report follows it; a new row takes the old name: it has none.
    assert read_reports({"nightly-old": 1, "nightly": 2}, now=T0).keys() == {"nightly-old"}
    cache.set(report_key(3), {"row": 4, "finished": None})  # a report of another row
    assert read_reports({"other": 3}) == {}
    assert report_key(1) != report_key(2)


def test_a_run_whose_worker_stopped_beating_is_read_as_lost() -> None:
    reporter = Reporter()
    finish(reporter, "alpha", T0 - timedelta(minutes=5))  # an earlier run went well
    start(reporter, "alpha", T0)
    still = T0 + timedelta(seconds=lost_after() - 1)
    merged = merge_report({"run_on": "worker"}, read(now=still))
    assert (merged["running"], merged["last_outcome"], task_state(merged)) == (
        True,
        "ok",
        "running",
    )
    gone = T0 + timedelta(seconds=lost_after() + 1)
    merged = merge_report({"run_on": "worker"}, read(now=gone))
    assert (merged["running"], merged["last_outcome"], task_state(merged)) == (
        False,
        "error",
        "failing",
    )
    assert merged["last_error"].startswith("WorkerLost: the worker on host w1, pid 7 stopped")
    assert (merged["run_count"], merged["error_count"]) == (2, 1)


def test_a_heartbeat_keeps_a_long_run_going() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    late = T0 + timedelta(hours=2)
    reporter.beat(cache.get(run_key(ROW, T0.isoformat())), late)
    merged = merge_report({"run_on": "worker"}, read(now=late + timedelta(seconds=1)))
    assert (merged["running"], task_state(merged)) == (True, "running")


def test_the_next_run_records_a_lost_run_and_returns_it_for_its_signal() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    later = T0 + timedelta(seconds=lost_after() + 1)
    (lost,) = start(reporter, "alpha", later, host="w2")
    assert (lost["host"], lost["started_at"]) == ("w1", T0.isoformat())
    report = read(now=later)
    assert report is not None
    assert [run["host"] for run in report["running"]] == ["w2"]
    assert report["finished"]["error"].startswith("WorkerLost:")
    assert (report["run_count"], report["error_count"]) == (1, 1)
    assert start(reporter, "alpha", later + timedelta(seconds=1)) == []  # recorded once


def test_a_run_past_its_timeout_is_read_as_overrunning() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0, timeout=2)
    assert merge_report({}, read(now=T0 + timedelta(seconds=1)))["overrun"] is False
    merged = merge_report(
        {"run_on": "worker", "enabled": True}, read(now=T0 + timedelta(seconds=3))
    )
    assert (merged["overrun"], task_state(merged)) == (True, "failing")
    cells = task_cells(merged, T0 + timedelta(seconds=3))
    assert cells["running"] == "overrunning its timeout, for 3 s"


@pytest.mark.parametrize(
    "junk",
    [
        {"row": ROW, "running": "x", "finished": {"started_at": 5}, "run_count": "many"},
        {"row": ROW, "finished": {"outcome": "ok", "started_at": "2026", "finished_at": 3}},
        {"row": ROW, "running": [SLOT.isoformat(), 7], "error_count": -1},
        "a string",
    ],
)
def test_a_report_of_the_wrong_shape_is_read_as_none_of_it(junk: object) -> None:
    cache.set(report_key(ROW), junk)
    cache.set(run_key(ROW, SLOT.isoformat()), {"row": ROW, "started_at": 1})
    report = read()
    merged = merge_report({"run_on": "worker"}, report)
    assert (merged["last_run"], merged["last_outcome"], merged["running"]) == (None, None, False)
    assert (merged["run_count"], merged["error_count"]) == (0, 0)
    task_cells(merged, T0)  # says it without raising


class BrokenCache:
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("down")

    set = get


def test_a_cache_error_is_logged_once_and_the_recovery_too(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import autosched.reports

    reporter = Reporter()
    monkeypatch.setattr(autosched.reports, "caches", {"default": BrokenCache()})
    with caplog.at_level(logging.INFO, logger="autosched"):
        start(reporter, "alpha", T0)
        finish(reporter, "alpha", T0)
        monkeypatch.setattr(autosched.reports, "caches", {"default": cache})
        start(reporter, "alpha", T0)
    assert [r.getMessage() for r in caplog.records] == [
        "Cannot report worker runs to the status cache 'default' (ConnectionError: down); the "
        "admin and schedulerstatus will not show their outcome until it answers.",
        "Reporting worker runs to the status cache 'default' again.",
    ]


ENQUEUE = {
    "run_on": "worker",
    "last_enqueued": T0.isoformat(),
    "enqueue_outcome": "ok",
    "last_run": None,
    "last_outcome": None,
    "running": False,
}


def test_the_merge_describes_the_workers_run_and_keeps_the_enqueue() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    finish(reporter, "alpha", T0, "error", "ValueError: bad", host="w2")
    merged = merge_report(ENQUEUE, read())
    assert merged["last_enqueued"] == T0.isoformat()
    assert merged["enqueue_outcome"] == "ok"
    assert {k: merged[k] for k in ("last_run", "last_outcome", "last_error", "last_duration")} == {
        "last_run": T0.isoformat(),
        "last_outcome": "error",
        "last_error": "ValueError: bad",
        "last_duration": 3.0,
    }
    assert (merged["worker_host"], merged["worker_pid"], merged["running"]) == ("w2", 7, False)
    assert merged["last_finished"] == (T0 + timedelta(seconds=3)).isoformat()
    assert merged["last_scheduled_at"] == SLOT.isoformat()
    assert (merged["run_count"], merged["error_count"]) == (1, 1)


def test_while_a_worker_runs_it_the_last_run_is_its_start_and_the_outcome_the_previous() -> None:
    reporter = Reporter()
    finish(reporter, "alpha", T0, "error", "ValueError: bad")
    later = T0 + timedelta(seconds=60)
    start(reporter, "alpha", later, host="w3")
    merged = merge_report(ENQUEUE, read(now=later))
    assert (merged["running"], merged["worker_running"]) == (True, True)
    assert merged["last_run"] == later.isoformat()
    assert merged["last_outcome"] == "error"
    assert merged["worker_host"] == "w3"


def test_with_no_report_a_worker_row_never_ran() -> None:
    merged = merge_report({**ENQUEUE, "run_count": 5}, None)
    assert (merged["last_run"], merged["last_outcome"], merged["run_count"]) == (None, None, 0)
    assert merged["running"] is False
    assert merged["enqueue_outcome"] == "ok"
