"""Where runs go: enqueued to Django Tasks for workers, fenced by leadership, validated."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from autosched.models import PeriodicTask
from autosched.worker import tasks_module

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
