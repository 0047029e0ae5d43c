"""schedulerstatus: the table, --json, and the exit status of a liveness probe."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from autosched import status as status_module
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import read_status
from tests.test_runscheduler import (  # noqa: F401 - fixtures
    PROC_ALIAS,
    ROOT,
    TICK,
    SchedulerProcess,
    django_command,
    proc_database,
    proc_env,
    start_scheduler,
    template_database,
)
from tests.waiting import wait_until


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()  # the test run's own cache directory
    yield
    cache.clear()


@pytest.fixture
def published() -> StatusPublisher:
    scheduler = Scheduler()
    scheduler.add_task("alpha", job, 60)
    scheduler.add_task("beta", job, 3600, enabled=False)
    publisher = StatusPublisher(scheduler)
    publisher.publish()
    return publisher


def status_command(*args: str) -> str:
    out = StringIO()
    call_command("schedulerstatus", *args, stdout=out)
    return out.getvalue()


def test_a_fresh_snapshot_prints_a_table_and_exits_0(published: StatusPublisher) -> None:
    lines = status_command().splitlines()
    assert lines[0].startswith("Scheduler alive on host ")
    assert lines[1].split() == [
        "NAME", "ENABLED", "INTERVAL", "RUNNING", "NEXT", "RUN", "LAST", "RUN", "OUTCOME", "RUNS"
    ]  # fmt: skip
    assert lines[2].split()[:5] == ["alpha", "yes", "60", "s", "-"]
    assert "in 1 min" in lines[2] or "in 59 s" in lines[2]
    assert lines[3].split()[:6] == ["beta", "no", "3600", "s", "-", "disabled"]


def test_json_prints_the_snapshot(published: StatusPublisher) -> None:
    status = json.loads(status_command("--json"))
    assert status["alive"] is True
    assert status["scheduler"]["pid"] == published.snapshot()["scheduler"]["pid"]
    assert set(status["tasks"]) == {"alpha", "beta"}
    assert status["tasks"]["alpha"]["run_count"] == 0


def test_no_snapshot_exits_1() -> None:
    with pytest.raises(CommandError, match="No scheduler has reported in the last 5 s") as info:
        status_command()
    assert info.value.returncode == 1


def test_json_without_a_scheduler_prints_and_exits_1() -> None:
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("schedulerstatus", "--json", stdout=out)
    assert info.value.returncode == 1
    assert json.loads(out.getvalue())["alive"] is False


def test_a_snapshot_older_than_the_ttl_exits_1(
    published: StatusPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=5.5)
    monkeypatch.setattr(status_module, "_now", lambda: later)
    with pytest.raises(CommandError) as info:
        status_command()
    assert info.value.returncode == 1


def probe(database: str, tmp_path: Any) -> subprocess.CompletedProcess[str]:
    env = proc_env(database, tmp_path / "probe.log")
    return subprocess.run(
        django_command("schedulerstatus", env=env),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.django_db(databases=["default"])
def test_the_probe_follows_a_real_scheduler(
    start_scheduler: Callable[..., SchedulerProcess],  # noqa: F811
    proc_database: str,  # noqa: F811
    tmp_path: Any,
) -> None:
    from autosched.models import PeriodicTask

    PeriodicTask.objects.using(PROC_ALIAS).create(name="tick-1", function=TICK, interval_seconds=1)
    process = start_scheduler()
    process.wait_for(lambda: bool(process.runs("tick")), "a run of tick-1")
    running = probe(proc_database, tmp_path)
    assert running.returncode == 0, running.stderr
    assert "Scheduler alive on host" in running.stdout
    assert "tick-1" in running.stdout
    assert process.stop(signal.SIGTERM) == 0
    stopped_at = time.monotonic()
    stopped = probe(proc_database, tmp_path)
    assert stopped.returncode == 1
    assert time.monotonic() - stopped_at < 5 + 1
    assert "No scheduler has reported" in stopped.stderr


@pytest.mark.django_db(databases=["default"])
def test_the_probe_fails_within_the_ttl_after_a_crash(
    start_scheduler: Callable[..., SchedulerProcess],  # noqa: F811
    proc_database: str,  # noqa: F811
    tmp_path: Any,
    settings: Any,
) -> None:
    settings.AUTOSCHED_STATUS_TTL = 1.5  # here, and in the scheduler through its environment
    process = start_scheduler(AUTOSCHED_PROC_STATUS_TTL="1.5")
    process.wait_for(lambda: read_status()["alive"], "the first heartbeat")
    process.popen.kill()  # no chance to remove its status: only the TTL tells
    process.popen.wait(5)
    wait_until(
        lambda: not read_status()["alive"],
        "the status to go stale, within TTL + 1 s",
        timeout=1.5 + 1,
    )
    env = {**proc_env(proc_database, tmp_path / "probe.log"), "AUTOSCHED_PROC_STATUS_TTL": "1.5"}
    probe = subprocess.run(
        django_command("schedulerstatus", env=env), cwd=ROOT, env=env, capture_output=True
    )
    assert probe.returncode == 1
