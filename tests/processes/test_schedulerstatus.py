"""`schedulerstatus` as a liveness probe beside a real `runscheduler`: its exit status follows."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from autosched.models import PeriodicTask
from autosched.status import read_status
from tests.processes.helpers import (
    ALIAS,
    ROOT,
    CommandProcess,
    command,
    key,
    process_env,
    run_times,
)
from tests.waiting import wait_until

StartScheduler = Callable[..., CommandProcess]


def probe(
    database: str, tmp_path: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = process_env(database, tmp_path / "probe.log", **extra)
    return subprocess.run(
        command("schedulerstatus", *args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.django_db(databases=["default"])
def test_the_probe_follows_a_real_scheduler(
    start_scheduler: StartScheduler, process_database: str, runs_log: Path, tmp_path: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="tick-1", function=key("tick"), interval_seconds=1
    )
    process = start_scheduler()
    process.wait_for(lambda: run_times(runs_log, "tick"), "a run of tick-1")
    running = probe(process_database, tmp_path)
    assert running.returncode == 0, running.stderr
    assert "Scheduler alive: 1 active on " in running.stdout
    assert "tick-1" in running.stdout
    brief = probe(process_database, tmp_path, "--brief")
    assert brief.returncode == 0, brief.stderr
    assert brief.stdout.startswith("Scheduler alive: 1 active on ")
    assert brief.stdout.count("\n") == 1
    assert process.stop(signal.SIGTERM, timeout=5) == 0
    stopped_at = time.monotonic()
    stopped = probe(process_database, tmp_path)
    assert stopped.returncode == 1
    assert time.monotonic() - stopped_at < 5 + 1
    assert "No scheduler has reported" in stopped.stderr
    assert probe(process_database, tmp_path, "--brief").returncode == 1


@pytest.mark.django_db(databases=["default"])
def test_the_probe_fails_within_the_ttl_after_a_crash(
    start_scheduler: StartScheduler, process_database: str, tmp_path: Path, settings: Any
) -> None:
    settings.AUTOSCHED_STATUS_TTL = 1.5  # here, and in the scheduler through its environment
    process = start_scheduler(AUTOSCHED_PROCESS_STATUS_TTL="1.5")
    process.wait_for(lambda: read_status()["alive"], "the first heartbeat")
    process.popen.kill()  # no chance to remove its status: only the TTL tells
    process.popen.wait(5)
    wait_until(
        lambda: not read_status()["alive"],
        "the status to go stale, within TTL + 1 s",
        timeout=1.5 + 1,
    )
    stale = probe(process_database, tmp_path, AUTOSCHED_PROCESS_STATUS_TTL="1.5")
    assert stale.returncode == 1


@pytest.mark.django_db(databases=["default"])
@pytest.mark.parametrize("args", [["schedulerstatus"], ["runscheduler", "--list"]])
def test_a_closed_pipe_ends_the_output_quietly(
    process_database: str, tmp_path: Path, args: list[str]
) -> None:
    # As `| head -1` does: the reader goes away before the command has written its table.
    cache.clear()  # no scheduler of another test still counts as alive
    PeriodicTask.objects.using(ALIAS).bulk_create(
        PeriodicTask(name=f"task-{number:04}", function=key("tick"), interval_seconds=60)
        for number in range(2000)
    )
    env = process_env(process_database, tmp_path / "probe.log")
    proc = subprocess.Popen(
        command(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        errors = proc.stderr.read()
        returncode = proc.wait(30)
    assert "Traceback" not in errors
    assert "BrokenPipe" not in errors
    if args[0] == "schedulerstatus":  # still a probe: no scheduler, so 1, with the reason
        assert returncode == 1
        assert "No scheduler has reported" in errors
    else:
        assert returncode == 0
