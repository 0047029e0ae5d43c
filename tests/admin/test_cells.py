"""The status cells in HTML: states, worker rows, stale and pending rows, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import translation

from autosched.admin.cells import render_cells
from autosched.models import PeriodicTask

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>|&nbsp;", " ", html).split())


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


def madrid(**fields: Any) -> PeriodicTask:
    values: dict[str, Any] = {
        "name": "report",
        "function": "x.y",
        "interval_seconds": 86400,
        "offset_seconds": 9000,  # 02:30
        "timezone": "Europe/Madrid",
        "enabled": True,
        **fields,
    }
    return PeriodicTask(**values)


def test_the_next_run_is_said_in_the_rows_zone_with_utc_beside_it() -> None:
    task = madrid(offset_seconds=32400)
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    cells = render_cells(task, None, live=False, now=now)
    # 09:00 in Madrid the next day is 07:00 UTC in summer, from the row alone.
    assert text(cells.next_run) == "expected in 19 h Mon 30 Mar 09:00 CEST · 07:00 UTC"


def test_a_slot_moved_by_a_clock_change_is_marked() -> None:
    now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    status = reported(
        madrid(),
        next_run=datetime(2026, 3, 29, 1, 30, tzinfo=UTC).isoformat(),
        timezone="Europe/Madrid",
    )
    cells = render_cells(madrid(), status, live=True, now=now)
    assert text(cells.next_run) == (
        "in 13 h 30 min Sun 29 Mar 03:30 CEST (moved from 02:30: clock change) · 01:30 UTC"
    )
    with translation.override("es"):
        cells = render_cells(madrid(), status, live=True, now=now)
    assert "03:30 CEST (movida desde las 02:30: cambio de hora) · 01:30 UTC" in text(cells.next_run)


def test_the_fall_back_slot_is_the_first_0230_and_not_marked() -> None:
    now = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    cells = render_cells(madrid(), None, live=False, now=now)
    assert text(cells.next_run).endswith("Sun 25 Oct 02:30 CEST · 00:30 UTC")


def test_a_utc_whole_day_row_says_its_slot_in_utc_only() -> None:
    task = madrid(timezone="", offset_seconds=10800)
    cells = render_cells(task, None, live=False, now=NOW)
    assert text(cells.next_run) == "expected in 17 h Wed 2 Dec 03:00 UTC"


def test_expected_asks_the_core_for_half_an_interval_after_the_last_run() -> None:
    # The core's rule (next_run_after_last): a run that started at 20:00 UTC (a long backlog)
    # is followed at least half a day later, so not by the 29th's 03:30 slot (01:30 UTC).
    now = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
    status = reported(madrid(), interval_seconds=3600, last_run=now.isoformat())  # pending edit
    cells = render_cells(madrid(), status, live=True, now=now)
    assert cells.pending
    assert text(cells.next_run).endswith("Mon 30 Mar 02:30 CEST · 00:30 UTC")
    # Without a last run the next slot is the 29th's.
    cells = render_cells(madrid(), reported(madrid(), interval_seconds=3600), live=True, now=now)
    assert text(cells.next_run).endswith("(moved from 02:30: clock change) · 01:30 UTC")
