"""Where runs go: enqueued to Django Tasks for workers, fenced by leadership, validated."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from autosched.models import PeriodicTask
from autosched.runner import SchedulerRunner
from autosched.runner.calls import enqueuer
from autosched.runner.sync import TaskSync
from autosched.scheduler import Scheduler
from autosched.worker import EnqueueError, backend_aliases, tasks_module
from tests.testapp import tasks

SYNC = "tests.testapp.tasks.no_default"
try:
    TASKS_MODULE = tasks_module().__name__
except ImportError:  # Django 5.2 without the django-tasks backport
    TASKS_MODULE = ""
IMMEDIATE = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}
needs_tasks = pytest.mark.skipif(
    not TASKS_MODULE,
    reason="needs django.tasks (Django 6) or the backport: pip install 'autosched[worker]'",
)


@pytest.fixture(autouse=True)
def immediate_backend(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@needs_tasks
def test_enqueued_run_calls_the_registered_function() -> None:
    tasks.calls.clear()
    enqueuer(SYNC, "job", backend="default", queue_name="default", priority=5)()
    assert tasks.calls == ["no_default"]


@needs_tasks
def test_enqueued_async_function_is_awaited() -> None:
    tasks.calls.clear()
    key = "tests.testapp.tasks.async_no_default"
    enqueuer(key, "job", backend="default", queue_name="default", priority=0)()
    assert tasks.calls == ["async_no_default"]


def test_failed_enqueue_names_task_and_backend() -> None:
    enqueue = enqueuer(SYNC, "job", backend="nope", queue_name="default", priority=0)
    with pytest.raises(EnqueueError, match="'job' to backend 'nope', queue 'default'"):
        enqueue()


@needs_tasks
def test_worker_refuses_an_unregistered_key() -> None:
    from autosched.worker import run_periodic_task

    with pytest.raises(LookupError, match=r"'os\.system' is not a registered function"):
        run_periodic_task.call("os.system", "evil")


def test_backend_aliases_come_from_the_tasks_setting(settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "other": IMMEDIATE["default"]}
    assert backend_aliases() == ["default", "other"]
    del settings.TASKS
    assert backend_aliases() == ["default"]


@pytest.mark.django_db
def test_model_rejects_an_unknown_backend_for_worker_runs() -> None:
    task = PeriodicTask(
        name="w", function=SYNC, interval_seconds=5, run_on="worker", tasks_backend="nope"
    )
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "'nope' is not a backend in the TASKS setting" in str(raised.value.message_dict)
    task.run_on = "process"  # the backend does not matter then
    task.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("priority", [-101, 101])
def test_model_rejects_a_priority_out_of_range(priority: int) -> None:
    task = PeriodicTask(name="w", function=SYNC, interval_seconds=5, priority=priority)
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "priority" in raised.value.message_dict


@needs_tasks
@pytest.mark.django_db
def test_sync_enqueues_worker_rows_and_rebuilds_on_a_target_change() -> None:
    PeriodicTask.objects.all().delete()
    row = PeriodicTask.objects.create(name="w", function=SYNC, interval_seconds=5)
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    in_process = scheduler.tasks["w"].func
    PeriodicTask.objects.filter(pk=row.pk).update(run_on="worker", queue_name="default")
    sync.apply(scheduler, sync.poll())
    assert scheduler.tasks["w"].func is not in_process
    tasks.calls.clear()
    scheduler.tasks["w"].func()
    assert tasks.calls == ["no_default"]  # through the immediate backend


@pytest.mark.django_db
def test_runs_are_fenced_by_the_lease(caplog: pytest.LogCaptureFixture) -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="g", function=SYNC, interval_seconds=5)
    runner = SchedulerRunner()  # never started: it does not hold the lease
    runner.sync.apply(runner.scheduler, runner.sync.reload())
    tasks.calls.clear()
    task = runner.scheduler.tasks["g"]
    with caplog.at_level(logging.WARNING, logger="autosched"):
        asyncio.run(runner.scheduler.run_task(task))
    assert tasks.calls == []
    assert task.last_outcome == "cancelled"
    assert "Not running task 'g': its scheduler may no longer launch runs" in caplog.text


@pytest.mark.django_db
def test_admin_list_shows_where_runs_go(admin_client: Any) -> None:
    PeriodicTask.objects.create(name="p", function=SYNC, interval_seconds=5)
    PeriodicTask.objects.create(
        name="w", function=SYNC, interval_seconds=5, run_on="worker", queue_name="q", priority=3
    )
    content = admin_client.get(reverse("admin:autosched_periodictask_changelist")).content
    assert "worker: default / q (priority 3)" in content.decode()
    assert "scheduler process" in content.decode()


@pytest.mark.django_db
def test_admin_form_offers_the_configured_backends(admin_client: Any, settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "other": IMMEDIATE["default"]}
    add = reverse("admin:autosched_periodictask_add")
    content = admin_client.get(add).content.decode()
    assert '<option value="other">other</option>' in content
    data = {
        "name": "w",
        "function": SYNC,
        "interval_seconds": "5",
        "enabled": "on",
        "run_on": "worker",
        "tasks_backend": "other",
        "queue_name": "slow",
        "priority": "-5",
        "description": "",
    }
    assert admin_client.post(add, data).status_code == 302
    task = PeriodicTask.objects.get(name="w")
    assert (task.run_on, task.tasks_backend, task.queue_name, task.priority) == (
        "worker",
        "other",
        "slow",
        -5,
    )


@pytest.mark.django_db
def test_admin_form_without_target_fields_keeps_the_defaults(admin_client: Any) -> None:
    add = reverse("admin:autosched_periodictask_add")
    data = {"name": "p", "function": SYNC, "interval_seconds": "5", "description": ""}
    assert admin_client.post(add, data).status_code == 302
    task = PeriodicTask.objects.get(name="p")
    assert (task.run_on, task.tasks_backend, task.priority) == ("process", "default", 0)
