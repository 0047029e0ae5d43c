"""Two runscheduler processes on PostgreSQL: SIGKILL the active one, the other takes over."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from autosched.models import PeriodicTask
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    CommandProcess,
    key,
    postgres_only,
    read_runs,
    too_close,
)

pytestmark = postgres_only

FUNCTIONS = ("alpha", "beta", "gamma")


def test_standby_takes_over_within_15_s_and_no_slot_runs_twice(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    for name in FUNCTIONS:
        PeriodicTask.objects.using(ALIAS).create(name=name, function=key(name), interval_seconds=1)
    first = start("runscheduler", "--sync-interval", "0.2")
    first.wait_for_output(ACTIVE)
    second = start("runscheduler", "--sync-interval", "0.2")
    second.wait_for_output("Standing by: the scheduler lease 'default' is held by")
    first.wait_for(lambda: len(read_runs(runs_log)) >= 6, "runs of the active scheduler")
    assert ACTIVE not in second.output

    first.popen.kill()  # SIGKILL: no chance to release the lease
    killed = time.monotonic()
    first.popen.wait()
    took_over = second.wait_for_output(ACTIVE, timeout=15)
    assert took_over - killed < 15
    second.wait_for(
        lambda: any(run.pid == second.pid for run in read_runs(runs_log)[-3:]),
        "runs of the new active scheduler",
    )
    time.sleep(2)  # a few more slots run by the new active scheduler
    assert second.stop(signal.SIGTERM) == 0

    runs = read_runs(runs_log)
    assert {run.pid for run in runs} == {first.pid, second.pid}
    assert too_close(runs, interval=1.0) == []
