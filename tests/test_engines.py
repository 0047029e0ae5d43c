"""The batch writers: the very rows or jobs each engine's enqueue writes, in one go.

django-tasks-db: one INSERT per batch. django-tasks-rq: one Redis pipeline per queue, on the
Redis of the engine tests (it must answer: these tests run with the PostgreSQL suite and fail,
never skip, without it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, ClassVar
from unittest import mock

import pytest
from django.db import OperationalError

from autosched import enqueue
from autosched.engines import batch_writer
from autosched.enqueue import BackendFailed, EnqueueError, RunToEnqueue, enqueue_many
from autosched.worker import worker_task
from tests.processes.engines import REDIS_URL, rq_queue
from tests.processes.helpers import ON_POSTGRES
from tests.tasks_backend import TASKS_MODULE, needs_tasks

pytestmark = pytest.mark.django_db


def runs(*names: str, queue: str = "default") -> list[RunToEnqueue]:
    return [RunToEnqueue("k", name, queue_name=queue, scheduled_at="2026-12-01T07:00:00+00:00")
            for name in names]  # fmt: skip


# django-tasks-db's DatabaseBackend: one INSERT per batch, the very rows its enqueue writes.

QUEUES = ["default", "fast"]
GREET = "tests.testapp.tasks.greet"
DB_WORKER = "django_tasks_db.management.commands.db_worker"


@contextlib.contextmanager
def admin_kept() -> Iterator[None]:
    """Unregister at the end the admins of the apps installed meanwhile (the admin's
    autodiscovery registers them), so that later tests see the admin they expect."""
    from django.contrib import admin

    registered = dict(admin.site._registry)
    try:
        yield
    finally:
        admin.site._registry.clear()
        admin.site._registry.update(registered)


@pytest.fixture(scope="module")
def tasks_db(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """django-tasks-db installed, its table made, and the default backend a DatabaseBackend."""
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    with (
        admin_kept(),
        override_settings(
            INSTALLED_APPS=[*settings.INSTALLED_APPS, "django_tasks_db"],
            TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": QUEUES}},
        ),
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
    task = worker_task().using(backend="default", queue_name="fast", priority=7)
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
        mock.patch.object(enqueue.connections, "close_all"),  # it would drop the test database
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
        mock.patch.object(enqueue, "_enqueue_each") as per_run,
    ):
        enqueue_many("default", batch)
    per_run.assert_called_once()
    assert per_run.call_args.args[0].runs == batch
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
    settings.TASKS = {"default": {"BACKEND": "tests.test_engines.OwnEnqueue"}}
    assert enqueue_many("default", runs("a")) == [None]
    assert OwnEnqueue.enqueued == ["a"]
    assert len(stored()) == 1


# django-tasks-rq's RQBackend: one pipeline per queue, the very jobs its enqueue writes.

#: Job fields that differ between any two enqueues of the same run.
RQ_OWN = {b"created_at", b"enqueued_at", b"last_heartbeat"}

postgres_with_redis = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="the RQ tests need Redis, which the PostgreSQL suite requires: run with "
    "AUTOSCHED_TEST_DB=postgres",
)


@pytest.fixture
def rq_queues(settings: Any) -> Iterator[list[str]]:
    """Two fresh RQ queues served by the default backend, a django-tasks-rq RQBackend."""
    with admin_kept(), rq_queue() as first, rq_queue() as second:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_rq", "django_tasks_rq"]
        settings.RQ_QUEUES = {name: {"URL": REDIS_URL} for name in (first, second)}
        settings.TASKS = {
            "default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [first, second]}
        }
        yield [first, second]


def redis() -> Any:
    import redis as redis_py

    return redis_py.Redis.from_url(REDIS_URL)


def queued(queue: str) -> list[dict[bytes, bytes]]:
    """The jobs waiting on ``queue``, oldest first, as stored."""
    connection = redis()
    ids = connection.lrange(f"rq:queue:{queue}", 0, -1)
    return [connection.hgetall(b"rq:job:" + job_id) | {b"id": job_id} for job_id in ids]


def same_fields(job: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {field: value for field, value in job.items() if field not in RQ_OWN | {b"id"}}


def run_names(queue: str) -> list[str]:
    from rq.job import Job

    return [Job.fetch(job[b"id"].decode(), connection=redis()).args[1] for job in queued(queue)]


@postgres_with_redis
def test_the_rq_jobs_are_those_the_backends_own_enqueue_writes(rq_queues: list[str]) -> None:
    queue = rq_queues[1]
    run = RunToEnqueue(GREET, "hello", queue, 0, {"who": "ana"}, "2026-12-01T07:00:00+00:00")
    task = worker_task().using(backend="default", queue_name=queue)
    own = task.enqueue(*run.args)
    assert enqueue_many("default", [run]) == [None]
    first, pushed = queued(queue)
    assert first[b"id"].decode() == own.id
    assert same_fields(pushed) == same_fields(first)
    assert pushed[b"id"] != first[b"id"]


@postgres_with_redis
def test_a_batch_is_one_pipeline_per_queue_on_rq(rq_queues: list[str]) -> None:
    from redis.client import Pipeline

    first, second = rq_queues
    batch = [*runs("a", "b", "c", queue=first), *runs("d", "e", queue=second)]
    execute = Pipeline.execute
    sent = []

    def counted(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
        sent.append(len(pipeline))
        return execute(pipeline, *args, **kwargs)

    with mock.patch.object(Pipeline, "execute", counted):
        assert enqueue_many("default", batch) == [None] * 5
    assert len(sent) == 2
    assert run_names(first) == ["a", "b", "c"]
    assert run_names(second) == ["d", "e"]


@postgres_with_redis
def test_an_rq_worker_runs_the_pushed_jobs(rq_queues: list[str]) -> None:
    import django_rq
    from django_tasks_rq import Job
    from rq import SimpleWorker

    from tests.testapp.tasks import greetings

    greetings.clear()
    queue = rq_queues[0]
    batch = [RunToEnqueue(GREET, "g", queue, kwargs={"who": who}) for who in ("ana", "bo")]
    assert enqueue_many("default", batch) == [None, None]
    rq = django_rq.get_queue(queue, job_class=Job)
    worker = SimpleWorker([rq], connection=rq.connection, job_class=Job)
    assert worker.work(burst=True)
    assert sorted(greetings) == [("ana", 1), ("bo", 1)]
    assert rq.finished_job_registry.count == 2


@postgres_with_redis
def test_a_redis_failure_fails_every_run_of_the_queue(rq_queues: list[str]) -> None:
    import redis as redis_py
    from redis.client import Pipeline

    first, second = rq_queues
    down = redis_py.ConnectionError("Connection refused")
    with mock.patch.object(Pipeline, "execute", side_effect=[down, []]):
        errors = enqueue_many("default", [*runs("a", "b", queue=first), *runs("c", queue=second)])
    assert [type(error) for error in errors[:2]] == [BackendFailed, BackendFailed]
    assert "'a' to backend 'default', queue" in str(errors[0])
    assert str(errors[0].__cause__) == "Connection refused"
    assert queued(first) == []


@postgres_with_redis
def test_a_run_rq_cannot_take_goes_alone_and_the_others_go(rq_queues: list[str]) -> None:
    queue = rq_queues[0]
    batch = [*runs("a", queue=queue), RunToEnqueue("k", "b", queue, kwargs={"x": lambda: 1})]
    errors = enqueue_many("default", [*batch, *runs("c", queue=queue)])
    assert errors[0] is None
    assert errors[2] is None
    assert isinstance(errors[1], BackendFailed)
    assert run_names(queue) == ["a", "c"]


@postgres_with_redis
def test_a_task_the_backend_refuses_is_no_backend_failure(rq_queues: list[str]) -> None:
    from django_tasks_rq import RQBackend

    with mock.patch.object(RQBackend, "validate_task", side_effect=ValueError("no async")):
        (error,) = enqueue_many("default", runs("a", queue=rq_queues[0]))
    assert type(error) is EnqueueError
    assert "ValueError: no async" in str(error)


@postgres_with_redis
def test_task_enqueued_is_sent_with_the_rq_result(rq_queues: list[str]) -> None:
    import django_tasks.signals
    from django_tasks_rq import RQBackend

    heard: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        heard.append((sender, task_result.id, task_result.args[1], task_result.task.queue_name))

    django_tasks.signals.task_enqueued.connect(receiver)
    try:
        enqueue_many("default", runs("a", queue=rq_queues[0]))
    finally:
        django_tasks.signals.task_enqueued.disconnect(receiver)
    ((job,),) = [queued(rq_queues[0])]
    assert heard == [(RQBackend, job[b"id"].decode(), "a", rq_queues[0])]


@needs_tasks
def test_other_backends_have_no_batch_writer(settings: Any) -> None:
    from autosched.worker import tasks_module

    settings.TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}
    assert batch_writer(tasks_module().task_backends["default"]) is None
