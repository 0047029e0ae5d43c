"""Two runscheduler processes on PostgreSQL: SIGKILL the active one, the other takes over."""

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
    too_close,
)

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason=SKIP_REASON)

ACTIVE = "this process is the active scheduler"
FUNCTIONS = ("alpha", "beta", "gamma")


def start(database: str, log: Path, procs: list[Proc]) -> Proc:
    proc = Proc(manage("runscheduler", "--sync-interval", "0.2"), scale_env(database, log))
    procs.append(proc)
    return proc


def test_standby_takes_over_within_15_s_and_no_slot_runs_twice(
    scale_db: str, procs: list[Proc], tmp_path: Path
) -> None:
    for name in FUNCTIONS:
        PeriodicTask.objects.using(ALIAS).create(
            name=name, function=f"tests.scaleapp.tasks.{name}", interval_seconds=1
        )
    log = tmp_path / "runs.log"
    first = start(scale_db, log, procs)
    first.wait_for_output(ACTIVE)
    second = start(scale_db, log, procs)
    second.wait_for_output("Standing by: the scheduler lease 'default' is held by")
    first.wait_for(lambda: len(read_runs(log)) >= 6, "runs of the active scheduler")
    assert ACTIVE not in second.output

    first.popen.kill()  # SIGKILL: no chance to release the lease
    killed = time.monotonic()
    first.popen.wait()
    took_over = second.wait_for_output(ACTIVE, timeout=15)
    assert took_over - killed < 15
    second.wait_for(
        lambda: any(run.pid == second.popen.pid for run in read_runs(log)[-3:]),
        "runs of the new active scheduler",
    )
    time.sleep(2)  # a few more slots run by the new active scheduler
    assert second.stop(signal.SIGTERM) == 0

    runs = read_runs(log)
    assert {run.pid for run in runs} == {first.popen.pid, second.popen.pid}
    assert too_close(runs, interval=1.0) == []
