"""SIGTERM of the active scheduler during a Run now run: the standby waits for that run to end."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from autosched.models import PeriodicTask, RunRequest
from tests.scale_helpers import ALIAS, ON_POSTGRES, SKIP_REASON, Proc, manage, read_runs, scale_env

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason=SKIP_REASON)

ACTIVE = "this process is the active scheduler"


def test_a_run_now_run_is_drained_before_the_standby_takes_over(
    scale_db: str, procs: list[Proc], tmp_path: Path
) -> None:
    tasks = PeriodicTask.objects.using(ALIAS)
    three = tasks.create(
        name="three", function="tests.scaleapp.tasks.three_seconds", interval_seconds=3600
    )
    log = tmp_path / "runs.log"
    env = scale_env(scale_db, log, AUTOSCHED_SCALE_GRACE="10")
    active = Proc(manage("runscheduler", "--sync-interval", "0.2"), env)
    procs.append(active)
    active.wait_for_output(ACTIVE)
    standby = Proc(manage("runscheduler", "--sync-interval", "0.2"), env)
    procs.append(standby)
    standby.wait_for_output("Standing by")

    RunRequest.objects.using(ALIAS).create(task=three, requested_by="test")
    active.wait_for(lambda: any(r.name == "three-start" for r in read_runs(log)), "the run")
    active.popen.send_signal(signal.SIGTERM)

    # Watch the standby every 10 ms: the moment it says it is active, the run must be over.
    ended_before_takeover: list[bool] = []

    def took_over() -> bool:
        if ACTIVE not in standby.output:
            return False
        ended_before_takeover.append(any(r.name == "three-end" for r in read_runs(log)))
        return True

    standby.wait_for(took_over, "the standby to take over", timeout=15)
    assert ended_before_takeover == [True], str(active)
    assert active.popen.wait(10) == 0, str(active)
    runs = read_runs(log)
    assert [(r.name, r.pid) for r in runs] == [
        ("three-start", active.popen.pid),
        ("three-end", active.popen.pid),
    ]
    assert "Released the scheduler lease 'default'" in active.output
    assert standby.stop(signal.SIGTERM) == 0
