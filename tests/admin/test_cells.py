"""The status cells in HTML: states, worker rows, stale and pending rows, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autosched.admin.cells import render_cells
from autosched.models import PeriodicTask

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def task() -> PeriodicTask:
    return PeriodicTask(name="alpha", function="x.y", interval_seconds=60, enabled=True)


def reported(task: PeriodicTask, **fields: Any) -> dict[str, Any]:
    return {
        "name": task.name,
        "enabled": True,
        "interval_seconds": task.interval_seconds,
        "offset_seconds": task.effective_offset,
        "next_run": (NOW + timedelta(seconds=42)).isoformat(),
        "last_run": None,
        "running": False,
        "overrun": False,
        "last_outcome": None,
        "last_duration": None,
        "last_error": None,
        "run_count": 0,
        "error_count": 0,
        **fields,
    }


def test_a_worker_rows_failure_says_where_it_ran_beside_the_enqueue(task: PeriodicTask) -> None:
    status = reported(
        task,
        run_on="worker",
        last_run=(NOW - timedelta(seconds=3)).isoformat(),
        last_outcome="error",
        last_duration=0.5,
        last_error="ValueError: bad <input>",
        run_count=2,
        error_count=1,
        worker_host="w2",
        worker_pid=9,
        last_enqueued=(NOW - timedelta(seconds=1)).isoformat(),
        enqueue_outcome="ok",
    )
    cells = render_cells(task, status, live=True, now=NOW)
    assert cells.state == "failing"
    assert text(cells.last_run) == (
        "✗ failed 3 s ago (500 ms) on host w2, pid 9 ValueError: bad &lt;input&gt; enqueued 1 s ago"
    )
    assert "autosched-failing-text" in cells.runs


def test_a_failed_enqueue_is_marked(task: PeriodicTask) -> None:
    status = reported(
        task,
        run_on="worker",
        last_enqueued=(NOW - timedelta(seconds=1)).isoformat(),
        enqueue_outcome="error",
        enqueue_error="ConnectionError: down",
    )
    cells = render_cells(task, status, live=True, now=NOW)
    assert cells.state == "failing"
    assert '<div class="autosched-small autosched-failing">enqueue failed' in cells.last_run
    assert text(cells.last_run).endswith("enqueue failed 1 s ago: ConnectionError: down")
    assert 'data-autosched-relative="ago"' in cells.last_run.split("enqueue failed")[1]


def test_a_running_task_says_since_when_and_its_previous_outcome(task: PeriodicTask) -> None:
    started = NOW - timedelta(seconds=75)
    status = reported(task, running=True, last_run=started.isoformat(), last_outcome="ok")
    cells = render_cells(task, status, live=True, now=NOW)
    assert text(cells.running) == "▶ running for 1 min 15 s"
    assert f'<time datetime="{started.isoformat()}" data-autosched-relative="for"' in cells.running
    assert text(cells.last_run) == "started 1 min 15 s ago previous run: ✓ ok"


def test_an_overrun_is_failing(task: PeriodicTask) -> None:
    status = reported(task, running=True, overrun=True, running_for=5.0)
    cells = render_cells(task, status, live=True, now=NOW)
    assert (cells.state, text(cells.running)) == ("failing", "⚠ overrunning its timeout, for 5 s")


def test_a_row_not_yet_applied_is_pending_with_its_expected_next_run(task: PeriodicTask) -> None:
    status = reported(task, interval_seconds=30)  # the scheduler still has the old interval
    cells = render_cells(task, status, live=True, now=NOW)
    assert cells.pending
    assert text(cells.next_run).startswith("expected in ")
    assert render_cells(task, reported(task), live=True, now=NOW).pending is False


def test_a_disabled_row_the_scheduler_still_runs_is_pending(task: PeriodicTask) -> None:
    task.enabled = False
    cells = render_cells(task, reported(task), live=True, now=NOW)
    assert (text(cells.next_run), cells.pending) == ("disabled", True)


def test_a_task_the_live_scheduler_does_not_report_is_not_loaded(task: PeriodicTask) -> None:
    cells = render_cells(task, None, live=True, now=NOW)
    assert text(cells.next_run) == "not loaded"
    assert (cells.running, cells.last_run, cells.runs, cells.state) == ("", "", "", "unknown")


def test_the_last_known_status_is_greyed_and_dated(task: PeriodicTask) -> None:
    status = reported(task, last_run=NOW.isoformat(), last_outcome="ok", run_count=1)
    cells = render_cells(task, status, live=False, as_of=NOW.isoformat(), now=NOW)
    assert cells.last_run.startswith(
        '<span class="autosched-stale" title="As of 2026-12-01 10:00:00 UTC">'
    )
    assert text(cells.next_run).startswith("expected in ")  # from the row
    assert cells.pending is False


def test_as_json_holds_the_cells_and_the_state(task: PeriodicTask) -> None:
    cells = render_cells(task, reported(task), live=True, now=NOW).as_json()
    assert set(cells) == {"running", "next_run", "last_run", "runs", "state", "pending"}
    assert cells["state"] == "never"
