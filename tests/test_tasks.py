"""autosched.tasks: the worker task is made on each backend whose Task class registers tasks."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import autosched.worker
from autosched.tasks import register_worker_task
from tests.tasks_backend import IMMEDIATE, TASKS_MODULE, needs_tasks

IMMEDIATE_BACKEND = IMMEDIATE["default"]["BACKEND"]

if TASKS_MODULE:
    from django.utils.module_loading import import_string

    ImmediateBackend = import_string(IMMEDIATE_BACKEND)
    PlainTask = import_string(f"{TASKS_MODULE}.base.Task")

    class RegisteringTask(PlainTask):  # type: ignore[misc,valid-type]
        """A Task class that registers each task it makes, as django-tasks-fennel's does."""

        made: ClassVar[list[tuple[str, str, str]]] = []

        def __post_init__(self) -> None:
            self.made.append((self.module_path, self.backend, self.queue_name))
            super().__post_init__()

    class RegisteringBackend(ImmediateBackend):  # type: ignore[misc,valid-type]
        task_class = RegisteringTask

    class BrokenBackend(RegisteringBackend):
        def __init__(self, alias: str, params: dict[str, Any]) -> None:
            raise ValueError("no broker URL")


REGISTERING_BACKEND = f"{__name__}.RegisteringBackend"
BROKEN_BACKEND = f"{__name__}.BrokenBackend"
WORKER_TASK = "autosched.worker.run_periodic_task"


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    if TASKS_MODULE:
        monkeypatch.setattr(RegisteringTask, "made", [])
    # The worker task is made once per process; these tests change the backend it is made on.
    monkeypatch.delitem(vars(autosched.worker), "run_periodic_task", raising=False)


@needs_tasks
def test_the_worker_task_is_made_on_a_backend_whose_task_class_registers(settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "celery": {"BACKEND": REGISTERING_BACKEND}}
    assert register_worker_task() == ["celery"]
    assert RegisteringTask.made == [(WORKER_TASK, "celery", "default")]


@needs_tasks
def test_the_task_takes_a_queue_the_backend_accepts(settings: Any) -> None:
    backend = {"BACKEND": REGISTERING_BACKEND, "QUEUES": ["slow", "emails"]}
    settings.TASKS = {**IMMEDIATE, "celery": backend}
    register_worker_task()
    assert RegisteringTask.made == [(WORKER_TASK, "celery", "emails")]


@needs_tasks
def test_backends_of_the_plain_task_class_are_left_alone(settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "other": IMMEDIATE["default"]}
    assert register_worker_task() == []


def test_nothing_is_made_without_a_tasks_setting(settings: Any) -> None:
    del settings.TASKS
    assert register_worker_task() == []


def test_nothing_is_made_without_the_tasks_framework(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.TASKS = {"celery": {"BACKEND": REGISTERING_BACKEND}}

    def missing() -> None:
        raise ImportError("no Tasks framework")

    monkeypatch.setattr("autosched.tasks.tasks_module", missing)
    assert register_worker_task() == []


@needs_tasks
def test_a_backend_that_cannot_be_imported_is_left_to_django_checks(settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "gone": {"BACKEND": "no.such.Backend"}}
    assert register_worker_task() == []


@needs_tasks
def test_the_worker_task_is_made_on_a_default_backend_without_a_default_queue(
    settings: Any,
) -> None:
    settings.TASKS = {"default": {"BACKEND": REGISTERING_BACKEND, "QUEUES": ["emails"]}}
    task = autosched.worker.run_periodic_task
    assert (task.module_path, task.queue_name) == (WORKER_TASK, "emails")


@needs_tasks
def test_a_broken_backend_is_logged_and_the_others_still_get_the_task(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TASKS = {
        **IMMEDIATE,
        "broken": {"BACKEND": BROKEN_BACKEND},
        "celery": {"BACKEND": REGISTERING_BACKEND},
    }
    assert register_worker_task() == ["celery"]
    assert "Tasks backend 'broken': ValueError: no broker URL" in caplog.text
