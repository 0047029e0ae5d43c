"""SIGTERM with runs in flight: they finish, the exit status is 0, a standby takes over at once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from autosched.models import PeriodicTask
from tests.scale_helpers import (
    ALIAS,
    ON_POSTGRES,
    SKIP_REASON,
    Proc,
    manage,
    read_runs,
    scale_env,
)

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason=SKIP_REASON)

ACTIVE = "this process is the active scheduler"


def test_sigterm_lets_runs_finish_and_hands_over(
    scale_db: str, procs: list[Proc], tmp_path: Path
) -> None:
    for number in range(3):
        PeriodicTask.objects.using(ALIAS).create(
            name=f"sleepy-{number}", function="tests.scaleapp.tasks.sleepy", interval_seconds=1
        )
    log = tmp_path / "runs.log"
    env = scale_env(scale_db, log, AUTOSCHED_SCALE_GRACE="10")
    active = Proc(manage("runscheduler", "--sync-interval", "0.2"), env)
    procs.append(active)
    active.wait_for_output(ACTIVE)
    standby = Proc(manage("runscheduler", "--sync-interval", "0.2"), env)
    procs.append(standby)
    standby.wait_for_output("Standing by")
    active.wait_for(
        lambda: sum(run.name == "sleepy-start" for run in read_runs(log)) >= 3, "runs in flight"
    )

    status = active.stop(signal.SIGTERM, timeout=10)
    stopped = time.monotonic()
    assert status == 0, str(active)
    mine = [run for run in read_runs(log) if run.pid == active.popen.pid]
    starts = sum(run.name == "sleepy-start" for run in mine)
    assert starts >= 3
    assert sum(run.name == "sleepy-end" for run in mine) == starts  # none cut short
    assert "Released the scheduler lease 'default'" in active.output
    took_over = standby.wait_for_output(ACTIVE, timeout=5)
    # A standby claims every 0.5 s: it takes over about at once, not at the lease's expiry.
    assert took_over - stopped < 1.5
    assert standby.stop(signal.SIGTERM) == 0
