"""enqueue_many: one transaction per batch on a database backend, each run's own error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, transaction

from autosched import enqueue
from autosched.enqueue import BackendFailed, EnqueueError, RunToEnqueue, enqueue_many, enqueue_run
from tests.tasks_backend import TASKS_MODULE, needs_tasks

pytestmark = pytest.mark.django_db


class FakeTask:
    """Stands for the Tasks framework's task: records enqueues, fails the ones it is told to."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[Any, ...]] = []
        self.refused_queues: set[str] = set()
        self.failures: list[Exception] = []  # raised by the next enqueues, in order

    def using(self, *, backend: str, queue_name: str, priority: int) -> FakeTask:
        if queue_name in self.refused_queues:
            raise ValueError(f"no queue {queue_name!r}")
        return self

    def enqueue(self, *args: Any) -> Any:
        if self.failures:
            raise self.failures.pop(0)
        self.enqueued.append(args)
        return mock.Mock(id=str(len(self.enqueued)))


@pytest.fixture
def task() -> Iterator[FakeTask]:
    fake = FakeTask()
    with mock.patch.object(enqueue, "worker_task", return_value=fake):
        yield fake


@pytest.fixture
def atomic() -> Iterator[mock.Mock]:
    """Count the transactions opened, on a backend taken for a database one."""
    with (
        mock.patch.object(enqueue, "_database_of", return_value="default"),
        mock.patch.object(enqueue.transaction, "atomic", wraps=transaction.atomic) as counted,
    ):
        yield counted


def runs(*names: str, queue: str = "default") -> list[RunToEnqueue]:
    return [RunToEnqueue("k", name, queue_name=queue, scheduled_at="2026-12-01T07:00:00+00:00")
            for name in names]  # fmt: skip


@pytest.mark.usefixtures("task")
def test_a_batch_on_a_database_backend_is_one_transaction(atomic: mock.Mock) -> None:
    assert enqueue_many("default", runs("a", "b", "c")) == [None, None, None]
    assert atomic.call_args_list == [mock.call(using="default")]


def test_each_run_goes_with_its_arguments_and_slot(task: FakeTask) -> None:
    enqueue_many("default", [RunToEnqueue("k", "a", kwargs={"x": 1}, scheduled_at="s")])
    assert task.enqueued == [("k", "a", {"x": 1}, "s")]


def test_a_rows_run_carries_the_row_its_timeout_and_a_token_the_worker_checks(
    task: FakeTask,
) -> None:
    from autosched.tokens import check_run_token

    enqueue_many("default", [RunToEnqueue("k", "a", scheduled_at="s", row_id=7, timeout=30)])
    ((key, name, kwargs, slot, run),) = task.enqueued
    assert (key, name, kwargs, slot) == ("k", "a", {}, "s")
    assert (run["row"], run["timeout"]) == (7, 30)
    assert check_run_token(7, "k", "s", 30, run["token"])


@pytest.mark.usefixtures("atomic")
def test_a_database_error_fails_every_run_of_the_batch_after_one_retry(task: FakeTask) -> None:
    task.failures = [OperationalError("stale"), OperationalError("down")]
    errors = enqueue_many("default", runs("a", "b"))
    assert all(isinstance(error, BackendFailed) for error in errors)
    assert [str(error.__cause__) for error in errors if error] == ["down", "down"]
    assert "'a' to backend 'default', queue 'default': OperationalError: down" in str(errors[0])


@pytest.mark.usefixtures("atomic")
def test_a_stale_connection_is_retried_once_on_a_fresh_one(task: FakeTask) -> None:
    task.failures = [OperationalError("server closed the connection")]
    with mock.patch.object(enqueue.connections, "close_all") as close_all:
        assert enqueue_many("default", runs("a", "b")) == [None, None]
    close_all.assert_called_once_with()
    assert [args[1] for args in task.enqueued] == ["a", "b"]


def test_a_refused_run_fails_alone_and_is_no_backend_failure(task: FakeTask) -> None:
    task.refused_queues = {"nope"}
    errors = enqueue_many("default", [*runs("a"), *runs("b", queue="nope")])
    assert errors[0] is None
    assert type(errors[1]) is EnqueueError
    assert "ValueError: no queue 'nope'" in str(errors[1])


def test_without_a_database_each_run_fails_alone(task: FakeTask) -> None:
    task.failures = [ConnectionError("redis down")]
    errors = enqueue_many("default", runs("a", "b"))
    assert isinstance(errors[0], BackendFailed)
    assert errors[1] is None


def test_enqueue_run_raises_its_runs_error(task: FakeTask) -> None:
    task.failures = [ConnectionError("redis down")]
    with pytest.raises(BackendFailed, match="'job' to backend 'default', queue 'q'"):
        enqueue_run("k", "job", backend="default", queue_name="q", priority=0)


@needs_tasks
def test_django_tasks_db_is_a_database_backend(settings: Any) -> None:
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_tasks_db"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert enqueue._database_of("default") == "default"


@needs_tasks
def test_other_backends_are_not(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}
    assert enqueue._database_of("default") is None
