"""The real `runscheduler`: live changes, unregistered rows, SIGTERM, SIGINT, the grace period.

It runs on SQLite, or on PostgreSQL with AUTOSCHED_TEST_DB=postgres, like the test run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db.models import QuerySet

from autosched.models import PeriodicTask
from tests.processes.helpers import ALIAS, CommandProcess, key, run_times

TICK = key("tick")
TOCK = key("tock")
SLOW = key("slow")

StartScheduler = Callable[..., CommandProcess]


def proc_tasks() -> QuerySet[PeriodicTask]:
    return PeriodicTask.objects.using(ALIAS).all()


def test_process_applies_live_changes_and_stops_on_sigterm(
    start_scheduler: StartScheduler, runs_log: Path
) -> None:
    process = start_scheduler()
    proc_tasks().create(name="tick-1", function=TICK, interval_seconds=1)
    proc_tasks().create(name="tock-1", function=TOCK, interval_seconds=30)
    process.wait_for(lambda: run_times(runs_log, "tick"), "a run of tick-1")

    edited = time.monotonic()
    proc_tasks().filter(name="tick-1").update(enabled=False)
    proc_tasks().filter(name="tock-1").update(interval_seconds=1)
    process.wait_for_output("Disabled task 'tick-1'", timeout=2)
    process.wait_for_output("Retimed task 'tock-1' to every 1 s", timeout=2)
    quiet_since, ticks = time.monotonic(), len(run_times(runs_log, "tick"))

    # A retimed task runs at the next slot of its new grid (within one new interval of the
    # edit, plus the sync's latency), then every interval.
    # (Its 30 s grid may have had a slot before the edit: only the runs after it count.)
    def tocks() -> list[float]:
        return [when for when in run_times(runs_log, "tock") if when > edited]

    process.wait_for(lambda: len(tocks()) >= 2, "two runs of tock-1 after the edit", timeout=5)
    process.wait_for(lambda: time.monotonic() - quiet_since >= 2, "2 s without tick-1")

    assert len(run_times(runs_log, "tick")) == ticks
    first, second = tocks()[:2]
    assert first < quiet_since + 1.25
    assert second - first == pytest.approx(1.0, abs=0.25)
    assert process.stop(signal.SIGTERM, timeout=5) == 0
    assert "Scheduler stopped." in process.output


def test_process_stops_on_sigint(start_scheduler: StartScheduler) -> None:
    process = start_scheduler()
    assert process.stop(signal.SIGINT, timeout=5) == 0


def test_process_skips_an_unregistered_row_with_a_warning(
    start_scheduler: StartScheduler, runs_log: Path
) -> None:
    proc_tasks().create(name="ghost", function=key("gone"), interval_seconds=1)
    proc_tasks().create(name="tick-1", function=TICK, interval_seconds=1)
    process = start_scheduler()
    assert "(1 skipped, see the warnings)" in process.output
    process.wait_for(lambda: run_times(runs_log, "tick"), "a run of tick-1")
    proc_tasks().create(name="ghost-2", function=key("gone"), interval_seconds=1)
    process.wait_for_output("Skipping periodic task 'ghost-2'")
    assert process.output.count("Skipping periodic task 'ghost'") == 1
    assert process.stop(signal.SIGTERM, timeout=5) == 0


def test_process_second_sigint_forces_an_exit(
    start_scheduler: StartScheduler, runs_log: Path
) -> None:
    proc_tasks().create(name="slow-1", function=SLOW, interval_seconds=1)
    process = start_scheduler(AUTOSCHED_PROCESS_GRACE_PERIOD="30")
    process.wait_for(lambda: run_times(runs_log, "slow"), "a run of slow-1")
    process.popen.send_signal(signal.SIGINT)
    process.wait_for_output("Waiting up to 30.0 s")
    assert process.stop(signal.SIGINT, timeout=3) == 130


def test_process_exits_after_the_grace_period(
    start_scheduler: StartScheduler, runs_log: Path
) -> None:
    proc_tasks().create(name="slow-1", function=SLOW, interval_seconds=1)
    process = start_scheduler(AUTOSCHED_PROCESS_GRACE_PERIOD="0.5")
    process.wait_for(lambda: run_times(runs_log, "slow"), "a run of slow-1")
    assert process.stop(signal.SIGTERM, timeout=5) == 0
    assert "Exiting without waiting for 1 task run(s)" in process.output


def test_buffered_log_records_survive_the_exit_past_a_stuck_run(
    start_scheduler: StartScheduler, runs_log: Path, tmp_path: Path
) -> None:
    log = tmp_path / "autosched.log"
    proc_tasks().create(name="slow-1", function=SLOW, interval_seconds=1)
    process = start_scheduler(
        AUTOSCHED_PROCESS_GRACE_PERIOD="0.5", AUTOSCHED_PROCESS_LOG_BUFFER=str(log)
    )
    process.wait_for(lambda: run_times(runs_log, "slow"), "a run of slow-1")
    assert process.stop(signal.SIGTERM, timeout=5) == 0
    # The process left by os._exit, past the stuck run: the buffer was flushed before.
    written = log.read_text(encoding="utf-8")
    assert "Exiting without waiting for 1 task run(s)" in written
    assert "Released the scheduler lease 'default'" in written
