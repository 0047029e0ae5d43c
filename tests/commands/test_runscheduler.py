"""The runscheduler command in process: --list, --run, its options, and serving until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError

from autosched.humanize import schedule_words
from autosched.management.commands.runscheduler import _schedule_cell
from autosched.models import PeriodicTask
from autosched.runner import SchedulerRunner
from autosched.schedule import spread_offset
from tests.testapp import tasks

SYNC = "tests.testapp.tasks.no_default"
GREET = "tests.testapp.tasks.greet"


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
    def words(name: str, interval: int) -> list[str]:
        return schedule_words(interval, spread_offset(name, interval)).split()

    lines = [line.split() for line in run_command("--list").splitlines()]
    assert lines == [
        ["NAME", "FUNCTION", "SCHEDULE", "ENABLED", "REGISTERED"],
        ["broken", "tests.testapp.tasks.failing", *words("broken", 5), "no", "yes"],
        ["every-minute", SYNC, *words("every-minute", 60), "yes", "yes"],
        ["ghost", "tests.testapp.tasks.gone", *words("ghost", 7200), "yes", "NO"],
    ]
    assert words("every-minute", 60)[:2] == ["every", "minute"]


def test_list_aligns_columns(rows: None) -> None:
    header, *lines = run_command("--list").splitlines()
    column = header.index("SCHEDULE")
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


def test_run_a_misspelt_name_gets_a_hint(rows: None) -> None:
    with pytest.raises(CommandError) as raised:
        run_command("--run", "every-minut")
    assert (
        str(raised.value) == "No periodic task is named 'every-minut'. Did you mean 'every-minute'?"
    )
    assert raised.value.returncode == 2
    with pytest.raises(CommandError, match=r"'zzz'\. See runscheduler --list\.$"):
        run_command("--run", "zzz")


def test_run_of_a_row_with_bad_kwargs_exits_2(rows: None) -> None:
    PeriodicTask.objects.bulk_create(
        [PeriodicTask(name="typo", function=GREET, interval_seconds=60, kwargs={"whom": "x"})]
    )
    with pytest.raises(CommandError, match="unknown argument 'whom'") as raised:
        run_command("--run", "typo")
    assert raised.value.returncode == 2


def test_run_passes_the_rows_kwargs(rows: None) -> None:
    PeriodicTask.objects.create(name="hi", function=GREET, interval_seconds=60, kwargs={"who": "z"})
    tasks.greetings.clear()
    run_command("--run", "hi")
    assert tasks.greetings == [("z", 1)]


@pytest.mark.parametrize(
    ("interval", "offset", "zone", "cell"),
    [
        ("abc", None, "", "invalid interval 'abc'"),
        (1.5, None, "", "invalid interval 1.5"),
        (b"\x00", None, "", "invalid interval b'\\x00'"),
        (60, 90, "", "invalid offset 90"),
        (86400, None, "Europe/Madird", "invalid time zone 'Europe/Madird'"),
        (3600, None, "Europe/Madrid", "invalid time zone 'Europe/Madrid'"),
        (86400, 32400, "Europe/Madrid", "every day at 09:00 (Europe/Madrid)"),
    ],
)
def test_list_says_what_is_wrong_with_a_row_instead_of_crashing(
    interval: object, offset: object, zone: str, cell: str
) -> None:
    # Values only raw SQL could write (the constraints and SQLite's triggers refuse them now,
    # but a database migrated before may hold them): one bad row must not hide the list.
    assert _schedule_cell("t", interval, offset, zone) == cell


def test_run_unregistered_function(rows: None) -> None:
    with pytest.raises(
        CommandError, match=r"'tests\.testapp\.tasks\.gone', which is not registered"
    ):
        run_command("--run", "ghost")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "5e-324", "0.001", "31", "1e308"])
def test_bad_sync_interval(db: None, value: str) -> None:
    rule = "a number of seconds from 0.01 to 30"
    with pytest.raises(
        CommandError, match=re.escape(f"--sync-interval must be {rule}, not {float(value)}.")
    ):
        run_command("--sync-interval", value)


def test_sync_interval_that_is_not_a_number(db: None) -> None:
    with pytest.raises(CommandError, match="invalid float value: 'soon'"):
        run_command("--sync-interval", "soon")


def test_bad_sync_interval_setting(db: None, settings: Any) -> None:
    settings.AUTOSCHED_SYNC_INTERVAL = "1"
    with pytest.raises(
        CommandError, match=r"AUTOSCHED_SYNC_INTERVAL must be a number of seconds from 0\.01 to 30"
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


@pytest.mark.django_db(transaction=True)
def test_serve_warns_at_start_of_worker_rows_that_would_run_inline(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TASKS = {}  # none: Django's ImmediateBackend, inline
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="far", function=SYNC, interval_seconds=9, run_on="worker")
    with mock.patch(
        "autosched.management.commands.runscheduler.SchedulerRunner", SelfStoppingRunner
    ):
        run_command("--sync-interval", "0.05")
    (warning,) = [r.getMessage() for r in caplog.records if "(autosched.W003)" in r.getMessage()]
    assert warning.startswith("Worker rows (far) enqueue to Django Tasks, but there is no TASKS")
    assert "Set TASKS['default'] to a backend that workers read" in warning


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("owns_process", [False, True])
def test_serve_favours_the_loop_only_in_a_process_of_its_own(owns_process: bool) -> None:
    from autosched.management.commands.runscheduler import Command

    with (
        mock.patch(
            "autosched.management.commands.runscheduler.SchedulerRunner", SelfStoppingRunner
        ),
        mock.patch("autosched.management.commands.runscheduler.favour_the_loop") as favour,
        mock.patch.object(Command, "owns_process", owns_process),
        # Owning the process, it would exit past threads still busy: other tests' threads.
        mock.patch(
            "autosched.management.commands.runscheduler.threads_blocking_exit", return_value=[]
        ),
        mock.patch("os._exit", side_effect=AssertionError("the test process must not exit")),
    ):
        run_command("--sync-interval", "0.05")
    assert favour.called is owns_process
