"""The README's recipe for a persisted run history: a task_finished receiver writing a model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from autosched.runner.signal_sender import SignalSender
from autosched.scheduler import Scheduler
from autosched.signals import task_finished
from tests.testapp.history import KEEP, prune_task_runs, record_run
from tests.testapp.models import TaskRun
from tests.waiting import wait_until

README = Path(__file__).resolve().parent.parent / "README.md"


def fail() -> None:
    raise ValueError("no feed")


def job() -> None:
    """Do nothing."""


@pytest.fixture
def connected() -> Iterator[None]:
    task_finished.connect(record_run, dispatch_uid="tests.record_run")
    yield
    task_finished.disconnect(dispatch_uid="tests.record_run")


@pytest.mark.django_db(transaction=True)
def test_each_finished_run_is_written_to_the_projects_model(connected: None) -> None:
    scheduler = Scheduler()
    scheduler.add_task("feed", fail, 60)
    scheduler.add_task("fine", job, 60)
    sender = SignalSender(scheduler)  # what runscheduler runs: receivers in a thread of its own
    sender.start()
    try:
        asyncio.run(scheduler.run_task(scheduler.tasks["feed"]))
        asyncio.run(scheduler.run_task(scheduler.tasks["fine"]))
        wait_until(lambda: TaskRun.objects.count() == 2, "a row per run")
    finally:
        sender.stop()
    rows = list(TaskRun.objects.order_by("name"))
    assert [(r.name, r.outcome, r.error) for r in rows] == [
        ("feed", "error", "ValueError: no feed"),
        ("fine", "ok", ""),
    ]
    assert rows[0].started_at == scheduler.tasks["feed"].last_run
    assert rows[0].duration >= 0


@pytest.mark.django_db
def test_the_history_is_pruned_after_its_keep() -> None:
    now = timezone.now()
    for age in (KEEP + timedelta(hours=1), KEEP - timedelta(hours=1)):
        TaskRun.objects.create(name="t", started_at=now - age, outcome="ok", duration=0.1)
    prune_task_runs()
    assert TaskRun.objects.count() == 1


def test_the_readme_shows_the_recipe_as_tested() -> None:
    readme = README.read_text(encoding="utf-8")
    source = (Path(__file__).resolve().parent / "testapp" / "history.py").read_text()
    body = source.split("from tests.testapp.models import TaskRun\n", 1)[1]
    assert body.strip() in readme
