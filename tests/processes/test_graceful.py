"""SIGTERM with runs in flight: they finish, the exit status is 0, a standby takes over at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from autosched.models import PeriodicTask
from tests.processes.helpers import ACTIVE, ALIAS, CommandProcess, key, postgres_only, read_runs

pytestmark = postgres_only


def test_sigterm_lets_runs_finish_and_hands_over(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    for number in range(3):
        PeriodicTask.objects.using(ALIAS).create(
            name=f"sleepy-{number}", function=key("sleepy"), interval_seconds=1
        )
    grace = {"AUTOSCHED_PROCESS_GRACE_PERIOD": "10"}
    active = start("runscheduler", "--sync-interval", "0.2", **grace)
    active.wait_for_output(ACTIVE)
    standby = start("runscheduler", "--sync-interval", "0.2", **grace)
    standby.wait_for_output("Standing by")
    active.wait_for(
        lambda: sum(run.name == "sleepy-start" for run in read_runs(runs_log)) >= 3,
        "runs in flight",
    )

    status = active.stop(signal.SIGTERM, timeout=10)
    stopped = time.monotonic()
    assert status == 0, str(active)
    mine = [run for run in read_runs(runs_log) if run.pid == active.pid]
    starts = sum(run.name == "sleepy-start" for run in mine)
    assert starts >= 3
    assert sum(run.name == "sleepy-end" for run in mine) == starts  # none cut short
    assert "Released the scheduler lease 'default'" in active.output
    took_over = standby.wait_for_output(ACTIVE, timeout=5)
    # A standby claims every 0.5 s: it takes over about at once, not at the lease's expiry.
    assert took_over - stopped < 1.5
    assert standby.stop(signal.SIGTERM) == 0
