"""Every way a run on a real django-tasks-db worker ends reaches the status and the signals.

A deploy that reaches the scheduler first: the worker lacks the function, or the row's kwargs
no longer fit its signature; and a worker SIGKILLed in the middle of a run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from autosched.models import PeriodicTask
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    ROOT,
    CommandProcess,
    command,
    key,
    process_env,
    read_runs,
    run_times,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120)]

WORKER = ("db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload")
#: Worker runs beat every 1 s and are lost after 6 s without one (3 status TTLs).
STATUS_TTL = "2"
ENV = {"AUTOSCHED_PROCESS_STATUS_TTL": STATUS_TTL, "AUTOSCHED_PROCESS_SIGNALS": "1"}


def status_json(database: str, log: Path) -> dict[str, Any]:
    """Run ``schedulerstatus --json`` as an operator would, and return what it printed."""
    done = subprocess.run(
        command("schedulerstatus", "--json"),
        cwd=ROOT,
        env=process_env(database, log, **ENV),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return cast(dict[str, Any], json.loads(done.stdout))


def heard(log: Path, prefix: str) -> list[str]:
    """Return the ``task_finished`` signals the workers recorded for task ``prefix``."""
    return [run.name for run in read_runs(log) if run.name.startswith(f"finished:{prefix}:")]


def test_a_worker_that_refuses_a_run_reports_and_signals_it_failed(
    start: Callable[..., CommandProcess], process_database: str, runs_log: Path, tmp_path: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="new-function", function=key("only_newer"), interval_seconds=2, run_on="worker"
    )
    PeriodicTask.objects.using(ALIAS).create(
        name="new-kwargs",
        function=key("reshaped"),
        kwargs={"who": "ana", "loud": True},
        interval_seconds=2,
        run_on="worker",
    )
    # The scheduler has the newer code; the worker not yet.
    scheduler = start("runscheduler", "--sync-interval", "0.2", AUTOSCHED_PROCESS_NEWER="1", **ENV)
    worker = start(*WORKER, **ENV)
    scheduler.wait_for_output(ACTIVE)
    probe = tmp_path / "probe.log"
    tasks: dict[str, Any] = {}

    def both_failed() -> bool:
        nonlocal tasks
        tasks = status_json(process_database, probe)["tasks"]
        # The worker's report may land before the scheduler publishes its enqueue's end.
        return all(
            (tasks.get(name) or {}).get("last_outcome") == "error"
            and (tasks.get(name) or {}).get("enqueue_outcome") == "ok"
            for name in ("new-function", "new-kwargs")
        )

    wait_until(both_failed, f"both refusals in the status ({tasks})", timeout=40)
    missing, misfit = tasks["new-function"], tasks["new-kwargs"]
    assert missing["last_error"] == (
        "LookupError: Periodic task 'new-function': 'tests.processes.tasks.only_newer' is not "
        "a registered function in this worker; deploy the code that registers it."
    )
    assert misfit["last_error"].startswith("KwargsError: ")
    assert "loud" in misfit["last_error"]
    for status in (missing, misfit):
        assert status["error_count"] == status["run_count"] >= 1
        assert status["worker_pid"] == worker.pid
        assert status["enqueue_outcome"] == "ok"
    assert heard(runs_log, "new-function")[0] == "finished:new-function:error:LookupError"
    assert heard(runs_log, "new-kwargs")[0] == "finished:new-kwargs:error:KwargsError"
    assert not run_times(runs_log, "only_newer")  # never called
    assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)
    assert worker.stop(signal.SIGTERM) == 0, str(worker)


def test_a_run_whose_worker_is_killed_is_reported_lost_and_signalled(
    start: Callable[..., CommandProcess], process_database: str, runs_log: Path, tmp_path: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="doomed", function=key("slow"), interval_seconds=3, run_on="worker"
    )
    doomed = start(*WORKER, **ENV)
    scheduler = start("runscheduler", "--sync-interval", "0.2", **ENV)
    doomed.wait_for(lambda: run_times(runs_log, "slow"), "the worker's first run", 30)
    probe = tmp_path / "probe.log"
    status: dict[str, Any] = {}

    def read() -> dict[str, Any]:
        nonlocal status
        status = status_json(process_database, probe)["tasks"].get("doomed") or {}
        return status

    wait_until(lambda: read().get("running"), f"the run going on in the status ({status})", 20)
    assert status["worker_pid"] == doomed.pid
    doomed.popen.kill()
    doomed.popen.wait()
    killed = time.monotonic()
    wait_until(
        lambda: read().get("last_outcome") == "error",
        f"the killed run reported lost ({status})",
        timeout=30,
    )
    took = time.monotonic() - killed
    assert status["last_error"].startswith(
        f"WorkerLost: the worker on host {status['worker_host']}, pid {doomed.pid} stopped "
        "reporting this run"
    )
    assert (status["running"], status["error_count"], status["run_count"]) == (False, 1, 1)
    assert took < 6 * float(STATUS_TTL), f"reported lost {took:.1f} s after the kill"
    # The row's next run, on another worker, records the lost one and sends its signal.
    assert not heard(runs_log, "doomed")
    successor = start(*WORKER, **ENV)
    successor.wait_for(
        lambda: heard(runs_log, "doomed"), "the lost run's task_finished", timeout=30
    )
    assert heard(runs_log, "doomed") == ["finished:doomed:error:WorkerLost"]
    assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)
