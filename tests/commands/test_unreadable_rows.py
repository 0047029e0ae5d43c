"""runscheduler --list, --run and schedulerstatus with a row Python cannot read back."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection

from autosched.models import PeriodicTask
from tests.unreadable import kinds, make_unreadable

pytestmark = pytest.mark.django_db

SYNC = "tests.testapp.tasks.no_default"
KINDS = kinds(connection.vendor)


@pytest.fixture
def bad(request: pytest.FixtureRequest) -> PeriodicTask:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="alpha", function=SYNC, interval_seconds=60)
    row = PeriodicTask.objects.create(name="bad", function=SYNC, interval_seconds=60)
    PeriodicTask.objects.create(name="omega", function=SYNC, interval_seconds=60)
    make_unreadable(row.pk, request.param)
    return row


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("bad", KINDS, indirect=True)
def test_list_shows_an_unreadable_row_with_its_reason(bad: PeriodicTask) -> None:
    lines = run("runscheduler", "--list").splitlines()
    assert len(lines) == 4  # the header, and every row
    [shown] = [line for line in lines if "unreadable" in line]
    assert "alpha" not in shown
    assert "omega" not in shown


@pytest.mark.parametrize("bad", KINDS, indirect=True)
def test_run_of_another_row_still_works(bad: PeriodicTask) -> None:
    assert "Task 'alpha' succeeded" in run("runscheduler", "--run", "alpha")


@pytest.mark.parametrize("bad", ["deep_kwargs", "huge_number"], indirect=True)
def test_run_of_the_unreadable_row_says_why_with_status_2(bad: PeriodicTask) -> None:
    with pytest.raises(CommandError, match="'bad' cannot run: its keyword arguments") as raised:
        run("runscheduler", "--run", "bad")
    assert raised.value.returncode == 2


@pytest.mark.parametrize("bad", KINDS, indirect=True)
def test_schedulerstatus_shows_the_expected_runs_and_the_unreadable_row(bad: PeriodicTask) -> None:
    cache.clear()
    with pytest.raises(CommandError) as raised:  # no scheduler: status 1, as a probe expects
        run("schedulerstatus")
    assert raised.value.returncode == 1
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("schedulerstatus", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    [shown] = [line for line in lines if "unreadable" in line]
    assert "alpha" not in shown
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("schedulerstatus", "--json", stdout=out)
    expected = json.loads(out.getvalue())["expected"]
    assert expected["alpha"] is not None
    assert len(expected) == 3
