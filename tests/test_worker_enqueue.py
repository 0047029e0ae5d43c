"""worker.enqueue_many: one transaction per batch on a database backend, each run's own error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, ClassVar
from unittest import mock

import pytest
from django.db import OperationalError, transaction

from autosched import worker
from autosched.worker import BackendFailed, EnqueueError, RunToEnqueue, enqueue_many, enqueue_run
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
    with mock.patch.object(worker, "_task", return_value=fake):
        yield fake


@pytest.fixture
def atomic() -> Iterator[mock.Mock]:
    """Count the transactions opened, on a backend taken for a database one."""
    with (
        mock.patch.object(worker, "_database_of", return_value="default"),
        mock.patch.object(worker.transaction, "atomic", wraps=transaction.atomic) as counted,
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
    with mock.patch.object(worker.connections, "close_all") as close_all:
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
    assert worker._database_of("default") == "default"


@needs_tasks
def test_other_backends_are_not(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}
    assert worker._database_of("default") is None


# django-tasks-db's DatabaseBackend: one INSERT per batch, the very rows its enqueue writes.

QUEUES = ["default", "fast"]
GREET = "tests.testapp.tasks.greet"
DB_WORKER = "django_tasks_db.management.commands.db_worker"


@pytest.fixture(scope="module")
def tasks_db(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """django-tasks-db installed, its table made, and the default backend a DatabaseBackend."""
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    with override_settings(
        INSTALLED_APPS=[*settings.INSTALLED_APPS, "django_tasks_db"],
        TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": QUEUES}},
    ):
        from django_tasks_db.models import DBTaskResult

        with django_db_blocker.unblock(), connection.schema_editor() as editor:
            editor.create_model(DBTaskResult)
        try:
            yield
        finally:
            with django_db_blocker.unblock(), connection.schema_editor() as editor:
                editor.delete_model(DBTaskResult)


def stored() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.order_by("enqueued_at"))


def fields(row: Any) -> dict[str, Any]:
    """A row's fields but those that differ between any two enqueues (id, enqueued_at)."""
    return {
        field.attname: getattr(row, field.attname)
        for field in row._meta.concrete_fields
        if field.attname not in {"id", "enqueued_at"}
    }


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_the_bulk_rows_are_those_the_backends_own_enqueue_writes() -> None:
    run = RunToEnqueue(GREET, "hello", "fast", 7, {"who": "ana"}, "2026-12-01T07:00:00+00:00")
    task = worker._task().using(backend="default", queue_name="fast", priority=7)
    own = task.enqueue(run.key, run.name, run.kwargs, run.scheduled_at)
    assert enqueue_many("default", [run]) == [None]
    first, bulk = stored()
    assert str(first.id) == own.id
    assert fields(bulk) == fields(first)
    assert fields(bulk)["task_path"] == "autosched.worker.run_periodic_task"
    assert bulk.id != first.id
    assert bulk.enqueued_at >= first.enqueued_at


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_a_batch_is_one_insert_on_django_tasks_db() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    batch = [*runs("a", "b", "c"), *runs("d", "e", queue="fast")]
    with CaptureQueriesContext(connection) as queries:
        assert enqueue_many("default", batch) == [None] * 5
    inserts = [query["sql"] for query in queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert [(row.args_kwargs["args"][1], row.queue_name) for row in stored()] == [
        ("a", "default"), ("b", "default"), ("c", "default"), ("d", "fast"), ("e", "fast"),
    ]  # fmt: skip


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_db_worker_runs_the_bulk_rows() -> None:
    from django.core.management import call_command

    from tests.testapp.tasks import greetings

    greetings.clear()
    batch = [RunToEnqueue(GREET, "g", kwargs={"who": who}) for who in ("ana", "bo")]
    assert enqueue_many("default", batch) == [None, None]
    # In process, inside the test's transaction, which closing "old" connections would end.
    with mock.patch(f"{DB_WORKER}.close_old_connections"):
        call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0")
    assert sorted(greetings) == [("ana", 1), ("bo", 1)]
    assert [row.status for row in stored()] == ["SUCCESSFUL", "SUCCESSFUL"]


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_a_run_the_bulk_path_cannot_store_fails_alone() -> None:
    batch = [*runs("a"), RunToEnqueue("k", "b", kwargs={"x": object()}), *runs("c")]
    errors = enqueue_many("default", batch)
    assert errors[0] is None
    assert errors[2] is None
    assert isinstance(errors[1], BackendFailed)
    assert "'b' to backend 'default', queue 'default': TypeError" in str(errors[1])
    assert [row.args_kwargs["args"][1] for row in stored()] == ["a", "c"]


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_a_database_error_fails_the_whole_bulk_batch() -> None:
    from django.db.models import QuerySet

    failures = [OperationalError("stale"), OperationalError("down")]
    with (
        mock.patch.object(QuerySet, "bulk_create", side_effect=failures) as bulk_create,
        mock.patch.object(worker.connections, "close_all"),  # it would drop the test database
    ):
        errors = enqueue_many("default", runs("a", "b"))
    assert bulk_create.call_count == 2
    assert [str(error.__cause__) for error in errors if error] == ["down", "down"]
    assert stored() == []


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_task_enqueued_is_sent_only_to_a_receiver_of_its_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.compat import TASKS_LOGGER, task_enqueued

    with caplog.at_level(logging.DEBUG, logger=TASKS_LOGGER):
        enqueue_many("default", runs("a"))
    # The framework's own receiver would log this; the bulk path writes its line instead.
    (row,) = stored()
    logged = [r.getMessage() for r in caplog.records if r.name == TASKS_LOGGER]
    assert logged == [f"Task id={row.id} path={row.task_path} enqueued backend=default"]

    heard: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        heard.append((sender, task_result.id, task_result.args[1], task_result.task.queue_name))

    task_enqueued.connect(receiver)
    try:
        enqueue_many("default", runs("b", queue="fast"))
    finally:
        task_enqueued.disconnect(receiver)
    (sent,) = heard
    row = next(row for row in stored() if row.args_kwargs["args"][1] == "b")
    assert sent == (DatabaseBackend, str(row.id), "b", "fast")


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_ids_made_by_the_database_go_the_per_run_way() -> None:
    from django.db.models import Value
    from django_tasks_db.backend import DatabaseBackend

    batch = runs("a", "b")
    with (
        mock.patch.object(DatabaseBackend, "_get_id", return_value=Value("x")),
        mock.patch.object(worker, "_enqueue_prepared") as per_run,
    ):
        enqueue_many("default", batch)
    per_run.assert_called_once()
    assert per_run.call_args.args[:2] == ("default", batch)
    assert stored() == []


try:
    from django_tasks_db.backend import DatabaseBackend as _DatabaseBackend
except ImportError:  # Django 5.2 without the backport: the tests above are skipped
    _DatabaseBackend = object  # type: ignore[assignment,misc]


class OwnEnqueue(_DatabaseBackend):  # type: ignore[misc,valid-type]
    """A DatabaseBackend of one's own whose enqueue does more: the bulk path must not skip it."""

    enqueued: ClassVar[list[str]] = []

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.enqueued.append(args[1])
        return super().enqueue(task, args, kwargs)


@needs_tasks
@pytest.mark.usefixtures("tasks_db")
def test_a_backend_that_overrides_enqueue_keeps_its_enqueue(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.test_worker_enqueue.OwnEnqueue"}}
    assert enqueue_many("default", runs("a")) == [None]
    assert OwnEnqueue.enqueued == ["a"]
    assert len(stored()) == 1
