"""SIGTERM of the active scheduler during a Run now run: the standby waits for that run to end."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from autosched.models import PeriodicTask, RunRequest
from tests.processes.helpers import ACTIVE, ALIAS, CommandProcess, key, postgres_only, read_runs

pytestmark = postgres_only


def test_a_run_now_run_is_drained_before_the_standby_takes_over(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    tasks = PeriodicTask.objects.using(ALIAS)
    three = tasks.create(name="three", function=key("three_seconds"), interval_seconds=3600)
    grace = {"AUTOSCHED_PROCESS_GRACE_PERIOD": "10"}
    active = start("runscheduler", "--sync-interval", "0.2", **grace)
    active.wait_for_output(ACTIVE)
    standby = start("runscheduler", "--sync-interval", "0.2", **grace)
    standby.wait_for_output("Standing by")

    RunRequest.objects.using(ALIAS).create(task=three, requested_by="test")
    active.wait_for(lambda: any(r.name == "three-start" for r in read_runs(runs_log)), "the run")
    active.popen.send_signal(signal.SIGTERM)

    # Watch the standby every 10 ms: the moment it says it is active, the run must be over.
    ended_before_takeover: list[bool] = []

    def took_over() -> bool:
        if ACTIVE not in standby.output:
            return False
        ended_before_takeover.append(any(r.name == "three-end" for r in read_runs(runs_log)))
        return True

    standby.wait_for(took_over, "the standby to take over", timeout=15)
    assert ended_before_takeover == [True], str(active)
    assert active.popen.wait(10) == 0, str(active)
    runs = read_runs(runs_log)
    assert [(r.name, r.pid) for r in runs] == [
        ("three-start", active.pid),
        ("three-end", active.pid),
    ]
    assert "Released the scheduler lease 'default'" in active.output
    assert standby.stop(signal.SIGTERM) == 0
