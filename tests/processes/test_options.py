"""Schedule options in real processes: kwargs per row, rows written around the form, timeouts."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from autosched.models import PeriodicTask, RunRequest
from tests.processes.helpers import (
    ALIAS,
    ROOT,
    CommandProcess,
    command,
    key,
    process_env,
    read_runs,
)
from tests.waiting import wait_until

StartScheduler = Callable[..., CommandProcess]


def greetings(log: Path) -> list[str]:
    return [run.name for run in read_runs(log) if run.name.startswith("greet:")]


def test_two_rows_call_one_function_with_their_own_kwargs(
    start_scheduler: StartScheduler, runs_log: Path
) -> None:
    tasks = PeriodicTask.objects.using(ALIAS)
    tasks.create(
        name="ann", function=key("greet"), interval_seconds=1, kwargs={"who": "ann", "times": 2}
    )
    tasks.create(name="bob", function=key("greet"), interval_seconds=1, kwargs={"who": "bob"})
    process = start_scheduler()
    process.wait_for(lambda: len(set(greetings(runs_log))) >= 2, "both rows' runs")
    assert process.stop(signal.SIGTERM, timeout=5) == 0
    assert set(greetings(runs_log)) == {"greet:ann:2", "greet:bob:1"}


def test_a_row_with_an_unknown_kwarg_is_skipped_and_the_others_run(
    start_scheduler: StartScheduler, runs_log: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).bulk_create(
        [
            PeriodicTask(
                name="typo", function=key("greet"), interval_seconds=1, kwargs={"whom": "x"}
            ),
            PeriodicTask(
                name="fine", function=key("greet"), interval_seconds=1, kwargs={"who": "y"}
            ),
        ]
    )
    process = start_scheduler()
    process.wait_for(lambda: len(greetings(runs_log)) >= 2, "two runs of the sound row")
    assert process.stop(signal.SIGTERM, timeout=5) == 0
    assert set(greetings(runs_log)) == {"greet:y:1"}
    warnings = [
        line for line in process.output.splitlines() if "Skipping periodic task 'typo'" in line
    ]
    assert len(warnings) == 1, process.output
    assert "unknown argument 'whom'" in warnings[0]
    assert "(1 skipped, see the warnings)" in process.output


def status_json(database: str, tmp_path: Path) -> dict[str, object]:
    env = process_env(database, tmp_path / "probe.log")
    done = subprocess.run(
        command("schedulerstatus", "--json"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_an_async_run_past_its_timeout_is_reported_as_timeout(
    start_scheduler: StartScheduler, process_database: str, runs_log: Path, tmp_path: Path
) -> None:
    task = PeriodicTask.objects.using(ALIAS).create(
        name="hang", function=key("hang"), interval_seconds=3600, timeout_seconds=1
    )
    process = start_scheduler()
    RunRequest.objects.using(ALIAS).create(task=task, requested_by="test")
    started = process.wait_for(
        lambda: any(r.name == "hang" for r in read_runs(runs_log)), "the run"
    )

    def outcome() -> object:
        status = status_json(process_database, tmp_path)
        tasks = status["tasks"]
        assert isinstance(tasks, dict)
        return tasks.get("hang", {}).get("last_outcome") == "timeout"

    reported = wait_until(outcome, "schedulerstatus to report the timeout", timeout=10)
    assert reported - started < 2.5
    assert "Task 'hang' failed after 1.0" in process.output
    assert "Timeout: ran 1.0" in process.output
    assert process.stop(signal.SIGTERM, timeout=5) == 0
