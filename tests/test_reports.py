"""Worker reports: written per run, read back by name, merged into a worker row's status."""

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
    merge_report,
    read_reports,
    report_key,
)
from autosched.status import LAST_KNOWN_TTL

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SLOT = T0 - timedelta(seconds=1)


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def start(reporter: Reporter, name: str, at: datetime, host: str = "w1") -> None:
    reporter.started(name, started_at=at, scheduled_at=SLOT, host=host, pid=7)


def finish(
    reporter: Reporter,
    name: str,
    at: datetime,
    outcome: str = "ok",
    error: str | None = None,
    host: str = "w1",
) -> None:
    reporter.finished(
        name,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        scheduled_at=SLOT,
        outcome=outcome,
        error=error,
        host=host,
        pid=7,
    )


def test_a_finished_run_is_read_back_with_its_outcome_and_counted() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    finish(reporter, "alpha", T0, "error", "ValueError: bad")
    report = read_reports(["alpha", "beta"])["alpha"]
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
    assert report["started"]["started_at"] == T0.isoformat()
    assert (report["run_count"], report["error_count"]) == (1, 1)
    finish(reporter, "alpha", T0 + timedelta(seconds=10))
    again = read_reports(["alpha"])["alpha"]
    assert (again["run_count"], again["error_count"]) == (2, 1)


def test_a_long_error_is_trimmed() -> None:
    reporter = Reporter()
    finish(reporter, "alpha", T0, "error", "x" * 5000)
    error = read_reports(["alpha"])["alpha"]["finished"]["error"]
    assert len(error) == 500
    assert error.endswith("…")


def test_a_report_lives_as_long_as_the_last_known_status() -> None:
    assert REPORT_TTL == LAST_KNOWN_TTL


def test_a_run_started_on_another_worker_meanwhile_stays_running() -> None:
    reporter = Reporter()
    start(reporter, "alpha", T0)
    start(reporter, "alpha", T0 + timedelta(seconds=1), host="w2")
    finish(reporter, "alpha", T0)
    merged = merge_report({"run_on": "worker"}, read_reports(["alpha"])["alpha"])
    assert merged["running"] is True
    assert merged["worker_host"] == "w2"
    assert merged["last_outcome"] == "ok"


def test_reports_are_told_apart_by_name() -> None:
    cache.set(report_key("alpha"), {"name": "someone else"})
    assert read_reports(["alpha"]) == {}
    assert report_key("alpha") != report_key("beta")


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
    merged = merge_report(ENQUEUE, read_reports(["alpha"])["alpha"])
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
    merged = merge_report(ENQUEUE, read_reports(["alpha"])["alpha"])
    assert (merged["running"], merged["worker_running"]) == (True, True)
    assert merged["last_run"] == later.isoformat()
    assert merged["last_outcome"] == "error"
    assert merged["worker_host"] == "w3"


def test_with_no_report_a_worker_row_never_ran() -> None:
    merged = merge_report({**ENQUEUE, "run_count": 5}, None)
    assert (merged["last_run"], merged["last_outcome"], merged["run_count"]) == (None, None, 0)
    assert merged["running"] is False
    assert merged["enqueue_outcome"] == "ok"
