"""The status view reads the page's tasks and reports only, however many rows there are."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

import autosched.status
from autosched.models import PeriodicTask
from autosched.reports import Reporter
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import PACKED_SLICE

pytestmark = pytest.mark.django_db

STATUS = reverse("admin:autosched_periodictask_status")
SYNC = "tests.testapp.tasks.no_default"


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def names() -> list[str]:
    """Four slices' worth of worker rows, published, with a worker's report each."""
    PeriodicTask.objects.all().delete()
    names = [f"task-{number:05d}" for number in range(3 * PACKED_SLICE + 1)]
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=name, function=SYNC, interval_seconds=3600) for name in names
    )
    scheduler = Scheduler()
    for name in reversed(names):  # the scheduler holds them in no particular order
        scheduler.add_task(name, job, 3600)
    pks = dict(PeriodicTask.objects.values_list("name", "pk"))  # reports go by the row's pk
    StatusPublisher(scheduler, worker_rows=lambda: pks).publish()
    return names


def test_one_page_unpickles_one_slice_and_reads_its_own_reports(
    admin_client: Client, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    page = names[PACKED_SLICE + 10 : PACKED_SLICE + 20]
    Reporter().finished(
        PeriodicTask.objects.get(name=page[0]).pk,
        page[0],
        slot=datetime.now(UTC).isoformat(),
        started_at=datetime.now(UTC),
        finished_at=datetime.now(UTC),
        scheduled_at=None,
        outcome="ok",
        error=None,
        host="w",
        pid=1,
    )
    unpickled: list[int] = []

    def loads(data: bytes) -> Any:
        unpickled.append(len(data))
        return pickle.loads(data)

    monkeypatch.setattr(
        autosched.status,
        "pickle",
        SimpleNamespace(loads=loads, dumps=pickle.dumps, HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL),
    )
    reports_read: list[str] = []
    read_reports = autosched.status.read_reports

    def spy(wanted: Any, **kwargs: Any) -> Any:
        reports_read.extend(wanted)
        return read_reports(wanted, **kwargs)

    monkeypatch.setattr(autosched.status, "read_reports", spy)
    ids = PeriodicTask.objects.filter(name__in=page).values_list("pk", flat=True)
    response = admin_client.get(STATUS + "?ids=" + ",".join(map(str, ids)))
    assert response.status_code == 200
    tasks = response.json()["tasks"]
    assert len(tasks) == len(page)
    assert len(unpickled) == 1  # one slice of four
    assert sorted(reports_read) == sorted(page)
    first = PeriodicTask.objects.get(name=page[0])
    assert tasks[str(first.pk)]["state"] == "ok"  # its worker's report was read


def test_every_task_is_still_read_when_all_are_asked_for(names: list[str]) -> None:
    status = autosched.status.read_status()
    assert sorted(status["tasks"]) == names
