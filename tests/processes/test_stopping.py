"""A stop is bounded whatever a run does, and the standby takes over: real processes."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from autosched.models import PeriodicTask, RunRequest
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    CommandProcess,
    key,
    postgres_only,
    read_runs,
)

pytestmark = postgres_only


def test_a_run_that_ignores_cancellation_cannot_hold_up_the_stop_or_the_takeover(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    tasks = PeriodicTask.objects.using(ALIAS)
    deaf = tasks.create(name="deaf", function=key("deaf"), interval_seconds=3600)
    tasks.create(name="alpha", function=key("alpha"), interval_seconds=1)
    active = start("runscheduler", "--sync-interval", "0.2", AUTOSCHED_PROCESS_GRACE_PERIOD="2")
    active.wait_for_output(ACTIVE)
    standby = start("runscheduler", "--sync-interval", "0.2", AUTOSCHED_PROCESS_GRACE_PERIOD="2")
    standby.wait_for_output("Standing by")
    RunRequest.objects.using(ALIAS).create(task=deaf, requested_by="test")
    active.wait_for(lambda: any(r.name == "deaf" for r in read_runs(runs_log)), "the deaf run")

    active.popen.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    assert active.popen.wait(2 + 5) == 0, str(active)  # within grace + 5 s
    assert time.monotonic() - sent < 2 + 5
    assert "Giving up on 1 async run(s) that ignored cancellation" in active.output
    assert (
        "Exiting without waiting for 1 task run(s) still going after the grace period: 'deaf'"
        in active.output
    )
    assert "Released the scheduler lease 'default'" in active.output
    standby.wait_for(
        lambda: any(r.name == "alpha" and r.pid == standby.pid for r in read_runs(runs_log)),
        "the standby's first run of alpha",
        timeout=12,
    )
    assert time.monotonic() - sent < 12
    assert standby.stop(signal.SIGTERM) == 0
