"""Enqueue mode with two real django-tasks-db workers: every run executes exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from django.db import connections

from autosched.models import PeriodicTask
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    ROOT,
    CommandProcess,
    command,
    key,
    postgres_only,
    process_env,
    read_runs,
    run_times,
)

pytestmark = postgres_only

TASKS, SECONDS = 50, 20
RESULTS = "SELECT status, worker_ids, args_kwargs FROM django_tasks_database_dbtaskresult"


def results() -> list[tuple[str, list[str], dict[str, list[str]]]]:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(RESULTS)
        rows = cursor.fetchall()
    return [
        (status, *(json.loads(v) if isinstance(v, str) else v for v in (workers, args)))
        for status, workers, args in rows
    ]


def test_every_enqueued_run_executes_exactly_once(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).bulk_create(
        PeriodicTask(
            name=f"work-{number:02}",
            function=key("work"),
            interval_seconds=1,
            run_on="worker",
        )
        for number in range(TASKS)
    )
    worker_args = ("db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload")
    workers = [start(*worker_args) for _ in range(2)]
    scheduler = start("runscheduler", "--sync-interval", "0.5")
    scheduler.wait_for_output(ACTIVE)
    time.sleep(SECONDS)
    assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)

    def drained() -> bool:
        return all(status in ("SUCCESSFUL", "FAILED") for status, _, _ in results())

    workers[0].wait_for(drained, "the workers to run every enqueued run", timeout=30)
    for worker in workers:
        assert worker.stop(signal.SIGTERM) == 0, str(worker)

    enqueued = results()
    assert len(enqueued) >= TASKS * (SECONDS - 2), str(scheduler)
    assert Counter(status for status, _, _ in enqueued) == {"SUCCESSFUL": len(enqueued)}
    assert all(len(worker_ids) == 1 for _, worker_ids, _ in enqueued)  # claimed once
    runs = read_runs(runs_log)
    assert len(runs) == len(enqueued)  # none lost, none run twice
    assert {run.pid for run in runs} == {worker.pid for worker in workers}
    per_task = Counter(args["args"][1] for _, _, args in enqueued)
    assert len(per_task) == TASKS
    assert max(per_task.values()) - min(per_task.values()) <= 1


def status_json(database: str, log: Path) -> dict[str, Any]:
    """Run ``schedulerstatus --json`` as an operator would, and return what it printed."""
    done = subprocess.run(
        command("schedulerstatus", "--json"),
        cwd=ROOT,
        env=process_env(database, log),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return cast(dict[str, Any], json.loads(done.stdout))


def test_a_worker_run_that_raised_shows_as_an_error_within_3_s(
    start: Callable[..., CommandProcess], process_database: str, runs_log: Path, tmp_path: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="broken", function=key("fail"), interval_seconds=2, run_on="worker"
    )
    worker = start("db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload")
    scheduler = start("runscheduler", "--sync-interval", "0.2")
    worker.wait_for(lambda: run_times(runs_log, "fail"), "the worker's first run", 30)
    ran_at = run_times(runs_log, "fail")[0]  # when it started, by the machine's one clock
    probe_log = tmp_path / "probe.log"
    while True:
        broken = status_json(process_database, probe_log)["tasks"].get("broken")
        if broken and broken["last_outcome"] == "error":
            break
        assert time.monotonic() - ran_at < 3, f"not reported failed: {broken}\n{scheduler}"
    assert time.monotonic() - ran_at < 3
    assert broken["last_error"] == "ValueError: failing on a worker on purpose"
    assert broken["worker_pid"] == worker.pid
    assert broken["run_count"] == broken["error_count"] >= 1
    assert broken["enqueue_outcome"] == "ok"
    assert broken["last_enqueued"] is not None
    assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)
    assert worker.stop(signal.SIGTERM) == 0, str(worker)
    assert "Periodic task 'broken' failed on a worker after " in worker.output
