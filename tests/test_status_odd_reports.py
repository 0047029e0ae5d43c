"""A worker report with values of the wrong type (a number where a time goes) costs only its
own cells: the list, the status view and schedulerstatus still answer for every user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from autosched.models import PeriodicTask
from autosched.reports import report_key
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import read_status

pytestmark = pytest.mark.django_db

ODD_REPORTS: list[Any] = [
    {
        "name": "remote",
        "started": {"started_at": 1764583197, "scheduled_at": 5, "host": 3, "pid": "x"},
        "finished": {
            "started_at": 1764583100,
            "finished_at": [],
            "duration": "long",
            "outcome": 7,
            "error": {"a": 1},
        },
        "run_count": "many",
        "error_count": None,
    },
    {"name": "remote", "started": ["not", "a", "dict"], "finished": 42},
    {"name": "remote", "started": {"started_at": "yesterday"}, "finished": None},
]


def job() -> None:
    """Do nothing."""


@pytest.fixture(params=range(len(ODD_REPORTS)))
def odd_report(request: pytest.FixtureRequest) -> Iterator[None]:
    cache.clear()
    PeriodicTask.objects.all().delete()
    row = PeriodicTask.objects.create(
        name="remote", function="tests.testapp.tasks.no_default", interval_seconds=60
    )
    scheduler = Scheduler()
    scheduler.add_task("remote", job, 60)
    StatusPublisher(scheduler, worker_rows=lambda: {"remote": row.pk}).publish()
    # Reports go by the row's pk, and say whose they are.
    cache.set(report_key(row.pk), {**ODD_REPORTS[request.param], "row": row.pk})
    yield
    cache.clear()


@pytest.mark.usefixtures("odd_report")
def test_the_list_and_the_status_view_answer(admin_client: Client) -> None:
    assert admin_client.get(reverse("admin:autosched_periodictask_changelist")).status_code == 200
    task = PeriodicTask.objects.get()
    change = reverse("admin:autosched_periodictask_change", args=[task.pk])
    assert admin_client.get(change).status_code == 200
    status = admin_client.get(reverse("admin:autosched_periodictask_status") + f"?ids={task.pk}")
    assert status.status_code == 200
    assert str(task.pk) in status.json()["tasks"]


@pytest.mark.usefixtures("odd_report")
def test_schedulerstatus_prints_the_table_and_exits_0() -> None:
    out = StringIO()
    call_command("schedulerstatus", stdout=out)
    assert "remote" in out.getvalue()
    out = StringIO()
    call_command("schedulerstatus", "--json", stdout=out)
    assert json.loads(out.getvalue())["alive"] is True


@pytest.mark.usefixtures("odd_report")
def test_values_of_the_wrong_type_are_read_as_missing() -> None:
    remote = read_status()["tasks"]["remote"]
    for key in ("last_run", "last_finished", "last_scheduled_at", "last_duration"):
        assert remote[key] is None or isinstance(remote[key], str | float | int), key
    assert isinstance(remote["run_count"], int)
    assert isinstance(remote["error_count"], int)


def test_a_huge_id_in_the_status_view_is_ignored(admin_client: Client) -> None:
    url = reverse("admin:autosched_periodictask_status")
    response = admin_client.get(url + "?ids=" + "9" * 5000 + ",1")
    assert response.status_code == 200
