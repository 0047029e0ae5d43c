"""The real `runscheduler` keeps running the other tasks when a row it cannot read appears."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from autosched.models import PeriodicTask
from tests.processes.helpers import ALIAS, ON_POSTGRES, CommandProcess, key, run_times
from tests.unreadable import kinds, make_unreadable

StartScheduler = Callable[..., CommandProcess]


@pytest.mark.parametrize("kind", kinds("postgresql" if ON_POSTGRES else "sqlite"))
def test_process_skips_an_unreadable_row_and_runs_the_others(
    start_scheduler: StartScheduler, runs_log: Path, kind: str
) -> None:
    tasks = PeriodicTask.objects.using(ALIAS)
    tasks.create(name="tick-1", function=key("tick"), interval_seconds=1)
    bad = tasks.create(name="bad", function=key("tock"), interval_seconds=1)
    process = start_scheduler()
    process.wait_for(lambda: run_times(runs_log, "tick"), "a run of tick-1")

    make_unreadable(bad.pk, kind, using=ALIAS)
    process.wait_for_output(f"Skipping periodic task #{bad.pk}")
    ticks = len(run_times(runs_log, "tick"))
    process.wait_for(lambda: len(run_times(runs_log, "tick")) >= ticks + 2, "two more ticks")
    assert process.stop(signal.SIGTERM, timeout=10) == 0

    # A restart loads the other rows, and says once which one it skips.
    process = start_scheduler()
    assert "(1 skipped, see the warnings)" in process.output
    assert process.output.count(f"Skipping periodic task #{bad.pk}") == 1
    assert process.stop(signal.SIGTERM, timeout=10) == 0
