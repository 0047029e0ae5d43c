"""schedulerstatus: the table, --json, and the exit status of a liveness probe."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import NoReturn

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command, load_command_class
from pytest_django import DjangoAssertNumQueries

from autosched import status as status_module
from autosched.reports import Reporter
from autosched.runner.identity import Identity
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler

# The command reads the rows too, for the next runs they give when no scheduler reports.
pytestmark = pytest.mark.django_db


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
    assert lines[0].startswith("Scheduler alive: 1 active on ")
    assert lines[1].split() == [
        "NAME", "ENABLED", "INTERVAL", "RUNNING", "NEXT", "RUN", "LAST", "RUN", "OUTCOME", "RUNS"
    ]  # fmt: skip
    assert lines[2].split()[:5] == ["alpha", "yes", "1", "min", "-"]
    assert "in 1 min" in lines[2] or "in 59 s" in lines[2]
    assert lines[2].split()[-3:] == ["never", "-", "0"]
    assert lines[3].split()[:6] == ["beta", "no", "1", "h", "-", "disabled"]


def readme_example() -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("$ python manage.py schedulerstatus\n", 1)[1].split("\n$ ", 1)[0]
    return block.splitlines()


def test_the_output_is_the_readmes(published: StatusPublisher) -> None:
    example = readme_example()
    lines = status_command().splitlines()
    assert example[1].split() == lines[1].split()  # the header
    banner = re.compile(
        r"Scheduler alive: 1 active on \S+ \(pid \d+\) since \S+ \S+ UTC; "
        r"\d+ of \d+ task\(s\) enabled\.( 1 standby on \S+ \(pid \d+\)\.)?"
    )
    assert banner.fullmatch(example[0])
    assert banner.fullmatch(lines[0])
    for row in example[2:]:  # the words of each cell, as the command says them
        assert re.fullmatch(
            r"\S+ +(yes|no) +\d+ \w+ +(-|running for .+?) +(disabled|in \d+ \w+) +"
            r"(never|\d+ \w+ ago) +(-|(ok|failed|timed out|cancelled) \(.+?\)) +"
            r"\d+( \(\d+ failed\))?",
            row,
        ), row


def test_standbys_are_listed_in_the_banner(published: StatusPublisher) -> None:
    standby = StatusPublisher(Scheduler(), identity=Identity(host="web-2", pid=77, token="t"))
    standby.role = lambda: "standby"
    standby.publish()
    assert status_command().splitlines()[0].endswith(" 1 standby on web-2 (pid 77).")


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


def test_brief_prints_one_line_reading_neither_the_tasks_nor_the_rows(
    published: StatusPublisher,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    def unpack(*args: object) -> NoReturn:
        raise AssertionError("the tasks' status was read")

    monkeypatch.setattr(status_module, "unpack_tasks", unpack)
    with django_assert_num_queries(0):
        lines = status_command("--brief").splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Scheduler alive: 1 active on ")
    assert lines[0].endswith("; 1 of 2 task(s) enabled.")


def test_brief_json_is_small(published: StatusPublisher) -> None:
    standby = StatusPublisher(Scheduler(), identity=Identity(host="web-2", pid=77, token="t"))
    standby.role = lambda: "standby"
    standby.publish()
    status = json.loads(status_command("--brief", "--json"))
    assert status["alive"] is True
    assert status["active"]["identity"] == str(published.identity)
    assert status["standbys"] == [str(standby.identity)]
    assert (status["tasks_loaded"], status["tasks_enabled"]) == (2, 1)
    assert "tasks" not in status


@pytest.mark.parametrize("args", [["--brief"], ["--brief", "--json"]])
def test_brief_without_a_scheduler_exits_1(args: list[str]) -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="No scheduler has reported") as info:
        call_command("schedulerstatus", *args, stdout=out)
    assert info.value.returncode == 1
    if "--json" in args:
        assert json.loads(out.getvalue())["alive"] is False
    else:
        assert out.getvalue() == ""


@pytest.mark.parametrize("name", ["schedulerstatus", "runscheduler"])
def test_the_help_is_said_when_asked(name: str) -> None:
    command = load_command_class("autosched", name)
    text = command.create_parser("manage.py", name).format_help()
    assert "AUTOSCHED_" in text


def test_a_worker_row_shows_the_workers_outcome_beside_the_enqueue() -> None:
    scheduler = Scheduler()
    scheduler.add_task("remote", job, 60)
    started = datetime.now(UTC) - timedelta(seconds=3)
    Reporter().finished(
        7,
        "remote",
        slot="s",
        started_at=started,
        finished_at=started + timedelta(seconds=0.012),
        scheduled_at=None,
        outcome="error",
        error="ValueError: " + "bad " * 40,
        host="w2",
        pid=9,
    )
    StatusPublisher(scheduler, worker_rows=lambda: {"remote": 7}).publish()
    row = status_command().splitlines()[2]
    assert "failed (12 ms) on host w2, pid 9; ValueError: bad bad" in row
    assert "…" in row  # the error is cut in the table
    assert row.endswith("1 (1 failed)")  # the worker's runs, not the enqueues
    remote = json.loads(status_command("--json"))["tasks"]["remote"]
    assert (remote["last_outcome"], remote["worker_host"]) == ("error", "w2")
    assert remote["enqueue_outcome"] is None


def test_a_whole_day_tasks_zone_is_shown_beside_its_interval() -> None:
    scheduler = Scheduler()
    scheduler.add_task("report", job, 86400, offset=9000, timezone="Europe/Madrid")
    StatusPublisher(scheduler).publish()
    (line,) = [line for line in status_command().splitlines() if line.startswith("report")]
    assert line.split()[:5] == ["report", "yes", "1", "d", "(Europe/Madrid)"]
    task = json.loads(status_command("--json"))["tasks"]["report"]
    assert (task["timezone"], task["offset_seconds"]) == ("Europe/Madrid", 9000)
