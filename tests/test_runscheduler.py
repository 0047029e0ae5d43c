"""The runscheduler command: its options in process, and the real thing in a subprocess."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.models import QuerySet

from autosched.models import PeriodicTask
from autosched.runner import SchedulerRunner
from tests.testapp import tasks

SYNC = "tests.testapp.tasks.no_default"


def run_command(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("runscheduler", *args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def rows(db: None) -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="every-minute", function=SYNC, interval_seconds=60)
    PeriodicTask.objects.create(
        name="broken", function="tests.testapp.tasks.failing", interval_seconds=5, enabled=False
    )
    PeriodicTask.objects.create(
        name="ghost", function="tests.testapp.tasks.gone", interval_seconds=7200
    )


def test_list_prints_a_table(rows: None) -> None:
    lines = [line.split() for line in run_command("--list").splitlines()]
    assert lines == [
        ["NAME", "FUNCTION", "INTERVAL", "ENABLED", "REGISTERED"],
        ["broken", "tests.testapp.tasks.failing", "every", "5", "seconds", "no", "yes"],
        ["every-minute", SYNC, "every", "minute", "yes", "yes"],
        ["ghost", "tests.testapp.tasks.gone", "every", "2", "hours", "yes", "NO"],
    ]


def test_list_aligns_columns(rows: None) -> None:
    header, *lines = run_command("--list").splitlines()
    column = header.index("INTERVAL")
    assert [line[column : column + 5] for line in lines] == ["every"] * 3


def test_list_without_rows(db: None) -> None:
    PeriodicTask.objects.all().delete()
    assert run_command("--list") == "No periodic tasks.\n"


def test_run_runs_the_task_once(rows: None) -> None:
    tasks.calls.clear()
    output = run_command("--run", "every-minute")
    assert tasks.calls == ["no_default"]
    assert "Task 'every-minute' succeeded" in output


def test_run_reports_a_failure_with_status_1(rows: None) -> None:
    with pytest.raises(CommandError, match="RuntimeError: failing on purpose") as raised:
        run_command("--run", "broken")
    assert raised.value.returncode == 1


def test_run_unknown_name(rows: None) -> None:
    with pytest.raises(CommandError, match="No periodic task is named 'nope'") as raised:
        run_command("--run", "nope")
    assert raised.value.returncode == 2


def test_run_unregistered_function(rows: None) -> None:
    with pytest.raises(
        CommandError, match=r"'tests\.testapp\.tasks\.gone', which is not registered"
    ):
        run_command("--run", "ghost")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_sync_interval(db: None, value: str) -> None:
    with pytest.raises(
        CommandError, match=f"--sync-interval must be a positive number of seconds, not {value}"
    ):
        run_command("--sync-interval", value)


def test_sync_interval_that_is_not_a_number(db: None) -> None:
    with pytest.raises(CommandError, match="invalid float value: 'soon'"):
        run_command("--sync-interval", "soon")


def test_bad_sync_interval_setting(db: None, settings: Any) -> None:
    settings.AUTOSCHED_SYNC_INTERVAL = "1"
    with pytest.raises(
        CommandError, match="AUTOSCHED_SYNC_INTERVAL must be a positive number of seconds, not '1'"
    ):
        run_command()


def test_list_and_run_exclude_each_other(db: None) -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        run_command("--list", "--run", "x")


def test_unknown_database(db: None) -> None:
    with pytest.raises(CommandError, match="Unknown database alias 'other'"):
        run_command("--list", "--database", "other")


@pytest.mark.parametrize(("verbosity", "logged"), [(0, False), (1, True)])
def test_verbosity_sets_the_log_level(
    rows: None, caplog: pytest.LogCaptureFixture, verbosity: int, logged: bool
) -> None:
    logger = logging.getLogger("autosched")
    level = logger.level
    run_command("--run", "every-minute", verbosity=verbosity)
    assert ("succeeded in" in caplog.text) is logged
    assert logger.level == level  # restored for whoever runs next


@pytest.mark.parametrize(
    ("verbosity", "level"),
    [(0, logging.WARNING), (1, logging.INFO), (2, logging.DEBUG), (3, logging.DEBUG)],
)
def test_verbosity_maps_to_the_autosched_log_level(rows: None, verbosity: int, level: int) -> None:
    seen: list[int] = []
    real_run = asyncio.run

    def run(coro: Any) -> Any:
        seen.append(logging.getLogger("autosched").level)
        return real_run(coro)

    with mock.patch("autosched.management.commands.runscheduler.asyncio.run", run):
        run_command("--run", "every-minute", verbosity=verbosity)
    assert seen == [level]


def test_logs_to_stderr_when_logging_is_not_configured(
    rows: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("autosched")
    with mock.patch.object(logger, "hasHandlers", return_value=False):
        run_command("--run", "every-minute")
    assert "INFO autosched: Task 'every-minute' succeeded" in capsys.readouterr().err
    assert not logger.handlers


# Real processes ---------------------------------------------------------------------------
#
# `python -m django runscheduler --settings=tests.procsettings` on a database of its own: a
# SQLite file, or a PostgreSQL database when AUTOSCHED_TEST_DB=postgres. The test process
# writes rows through an extra connection alias to that same database.

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = os.environ.get("AUTOSCHED_TEST_DB") == "postgres"
PROC_ALIAS = "runscheduler_process"
TICK = "tests.procapp.tasks.tick"
TOCK = "tests.procapp.tasks.tock"
SLOW = "tests.procapp.tasks.slow"


def postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        conn.execute(sql)


def django_command(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "django", *args, "--settings=tests.procsettings"]


def proc_env(database: str, log: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AUTOSCHED_PROC_DB": database,
        "AUTOSCHED_PROC_LOG": str(log),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.fixture(scope="module")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one database per module; each test starts from a copy of it."""
    if ON_POSTGRES:
        name = f"autosched_proc_template_{os.getpid()}"
        postgres(f"DROP DATABASE IF EXISTS {name}")
        postgres(f"CREATE DATABASE {name}")
    else:
        name = str(tmp_path_factory.mktemp("template") / "db.sqlite3")
    env = proc_env(name, Path(os.devnull))
    subprocess.run(
        django_command("migrate", "--verbosity=0", env=env), cwd=ROOT, env=env, check=True
    )
    yield name
    if ON_POSTGRES:
        postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def proc_database(template_database: str, tmp_path: Path, django_db_blocker: Any) -> Iterator[str]:
    """Copy the template database and open it in this process under PROC_ALIAS."""
    if ON_POSTGRES:
        name = f"autosched_proc_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        postgres(f"CREATE DATABASE {name} TEMPLATE {template_database}")
        settings = {**connections.settings[DEFAULT_DB_ALIAS], "NAME": name, "TEST": {}}
    else:
        name = str(tmp_path / "db.sqlite3")
        shutil.copyfile(template_database, name)
        settings = {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    configured = connections.configure_settings({DEFAULT_DB_ALIAS: {}, PROC_ALIAS: settings})
    connections.settings[PROC_ALIAS] = configured[PROC_ALIAS]
    try:
        with django_db_blocker.unblock():
            yield name
    finally:
        connections[PROC_ALIAS].close()
        del connections[PROC_ALIAS]
        del connections.settings[PROC_ALIAS]
        if ON_POSTGRES:
            postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class SchedulerProcess:
    """A running `runscheduler`, its output collected line by line as it comes."""

    def __init__(self, database: str, tmp_path: Path, *args: str, **env: str) -> None:
        self.log = tmp_path / "runs.log"
        self.log.touch()
        environ = proc_env(database, self.log, **env)
        self.popen = subprocess.Popen(
            django_command("runscheduler", *args, env=environ),
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self._readers = [
            threading.Thread(target=lines.extend, args=(stream,), daemon=True)
            for stream, lines in (
                (self.popen.stdout, self.stdout),
                (self.popen.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    @property
    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def runs(self, name: str) -> list[float]:
        """Return the monotonic start times of the runs of ``name`` so far."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [float(line.split()[1]) for line in lines if line.split()[0] == name]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Check ``condition`` every 20 ms until it holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.popen.poll() is not None:
                pytest.fail(
                    f"runscheduler exited ({self.popen.returncode}) before {what}:\n{self.output}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"Timed out waiting for {what}:\n{self.output}")
            time.sleep(0.02)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        self.wait_for(lambda: text in self.output, repr(text), timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send ``signum`` and return the exit status, which must come within ``timeout``."""
        self.popen.send_signal(signum)
        return self.popen.wait(timeout)

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        for reader in self._readers:
            reader.join(5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_scheduler(
    proc_database: str, tmp_path: Path
) -> Iterator[Callable[..., SchedulerProcess]]:
    started: list[SchedulerProcess] = []

    def start(*args: str, **env: str) -> SchedulerProcess:
        process = SchedulerProcess(proc_database, tmp_path, "--sync-interval", "0.2", *args, **env)
        started.append(process)
        process.wait_for_output("Press Ctrl-C to stop")
        return process

    yield start
    for process in started:
        process.close()


def proc_tasks() -> QuerySet[PeriodicTask]:
    return PeriodicTask.objects.using(PROC_ALIAS).all()


def test_process_applies_live_changes_and_stops_on_sigterm(
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    process = start_scheduler()
    proc_tasks().create(name="tick-1", function=TICK, interval_seconds=1)
    proc_tasks().create(name="tock-1", function=TOCK, interval_seconds=30)
    process.wait_for(lambda: bool(process.runs("tick")), "a run of tick-1")

    proc_tasks().filter(name="tick-1").update(enabled=False)
    proc_tasks().filter(name="tock-1").update(interval_seconds=1)
    process.wait_for_output("Disabled task 'tick-1'", timeout=2)
    process.wait_for_output("Retimed task 'tock-1' to every 1 s", timeout=2)
    quiet_since, ticks = time.monotonic(), len(process.runs("tick"))
    # A retimed task that never ran runs one new interval later, then every interval.
    process.wait_for(lambda: len(process.runs("tock")) >= 2, "two runs of tock-1", timeout=5)
    process.wait_for(lambda: time.monotonic() - quiet_since >= 2, "2 s without tick-1")

    assert len(process.runs("tick")) == ticks
    first, second = process.runs("tock")[:2]
    assert 0.5 < first - quiet_since < 1.5
    assert second - first == pytest.approx(1.0, abs=0.25)
    assert process.stop(signal.SIGTERM) == 0
    assert "Scheduler stopped." in process.output


def test_process_stops_on_sigint(start_scheduler: Callable[..., SchedulerProcess]) -> None:
    process = start_scheduler()
    assert process.stop(signal.SIGINT) == 0


def test_process_skips_an_unregistered_row_with_a_warning(
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    proc_tasks().create(name="ghost", function="tests.procapp.tasks.gone", interval_seconds=1)
    proc_tasks().create(name="tick-1", function=TICK, interval_seconds=1)
    process = start_scheduler()
    assert "(1 skipped, see the warnings)" in process.output
    process.wait_for(lambda: bool(process.runs("tick")), "a run of tick-1")
    proc_tasks().create(name="ghost-2", function="tests.procapp.tasks.gone", interval_seconds=1)
    process.wait_for_output("Skipping periodic task 'ghost-2'")
    assert process.output.count("Skipping periodic task 'ghost'") == 1
    assert process.stop(signal.SIGTERM) == 0


def test_process_second_sigint_forces_an_exit(
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    proc_tasks().create(name="slow-1", function=SLOW, interval_seconds=1)
    process = start_scheduler(AUTOSCHED_PROC_GRACE_PERIOD="30")
    process.wait_for(lambda: bool(process.runs("slow")), "a run of slow-1")
    process.popen.send_signal(signal.SIGINT)
    process.wait_for_output("Waiting up to 30.0 s")
    assert process.stop(signal.SIGINT, timeout=3) == 130


def test_process_exits_after_the_grace_period(
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    proc_tasks().create(name="slow-1", function=SLOW, interval_seconds=1)
    process = start_scheduler(AUTOSCHED_PROC_GRACE_PERIOD="0.5")
    process.wait_for(lambda: bool(process.runs("slow")), "a run of slow-1")
    assert process.stop(signal.SIGTERM) == 0
    assert "Exiting without waiting for 1 task run(s)" in process.output


class SelfStoppingRunner(SchedulerRunner):
    """A runner that sends its own process SIGTERM once running."""

    async def run(self) -> None:
        asyncio.get_running_loop().call_later(0.2, signal.raise_signal, signal.SIGTERM)
        await super().run()


@pytest.mark.django_db(transaction=True)
def test_serve_prints_what_it_loaded_and_stops_on_sigterm() -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="job", function=SYNC, interval_seconds=9, enabled=False)
    PeriodicTask.objects.create(
        name="ghost", function="tests.testapp.tasks.gone", interval_seconds=9
    )
    with mock.patch(
        "autosched.management.commands.runscheduler.SchedulerRunner", SelfStoppingRunner
    ):
        output = run_command("--sync-interval", "0.05")
    # The two defaults from tests.testapp are created again at start; one is enabled.
    assert "Loaded 1 enabled task(s) of 4 (1 skipped, see the warnings)." in output
    assert "Database 'default' (" in output
    assert "checking for changes every 0.05 s" in output
    assert output.endswith("Scheduler stopped.\n")


@pytest.mark.django_db(transaction=True)
def test_serve_reports_a_database_error_at_start() -> None:
    with (
        mock.patch(
            "autosched.runner.runner.sync_defaults", side_effect=OperationalError("no such table")
        ),
        pytest.raises(CommandError, match="Cannot load periodic tasks from database 'default'"),
    ):
        run_command()
