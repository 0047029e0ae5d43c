"""Batch writers for the Tasks backends autosched knows: a whole batch the way one run goes.

A backend's ``enqueue`` writes one run at a time: django-tasks-db one INSERT and a TaskResult
built by importing the task again (about 1 ms of CPU per run), django-tasks-rq a Redis
round trip for the server's version and a transaction for each job (about 1.5 ms). For the
runs due together, ``batch_writer`` returns a writer that stores the very rows or jobs that
``enqueue`` stores, in one INSERT or one Redis pipeline. A backend of another kind, or a
subclass that changes how it enqueues, keeps its own ``enqueue``.

``task_enqueued`` is sent, with each run's TaskResult, only when a receiver other than the
framework's own debug log listens; that log line is written here instead.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from autosched.publish import publish_confirmed
from autosched.worker import tasks_module
from autosched.writing import announce, validated

if TYPE_CHECKING:
    from autosched.enqueue import Batch

__all__ = ["batch_writer", "insert_rows", "push_jobs"]

#: A batch writer: (the backend, the batch, the database it stores runs in, if any).
Writer = Callable[[Any, "Batch", "str | None"], None]


def batch_writer(engine: Any) -> Writer | None:
    """Return the batch writer for the backend ``engine``, or None to enqueue run by run."""
    kind = type(engine)
    for module, name, overridable, writer in _WRITERS:
        try:
            known = getattr(importlib.import_module(module), name)
        except ImportError:
            continue
        if issubclass(kind, known) and all(
            getattr(kind, method) is getattr(known, method) for method in overridable
        ):
            return writer
    return None


def insert_rows(engine: Any, batch: Batch, database: str | None) -> None:
    """Enqueue to django-tasks-db's DatabaseBackend with one INSERT for the whole batch.

    The rows are made as its ``_task_to_db_task`` makes them, with ``run_after`` set as its
    ``pre_save`` receiver would (``bulk_create`` sends no ``pre_save``), and the task is
    validated once per queue and priority rather than once per run. A backend whose
    ``id_function`` gives database expressions (Django 6) leaves the batch to the per-run
    way: the ids are then known only after each INSERT. Call it inside the transaction.
    """
    from django.db.models import Expression
    from django_tasks_db.compat import normalize_json
    from django_tasks_db.models import DBTaskResult, get_date_max
    from django_tasks_db.utils import normalize_uuid

    if isinstance(engine._get_id(), Expression):
        return
    rows: list[tuple[int, Any]] = []
    again = False  # whether a run goes under the id of an attempt that may have been stored
    for number, task in validated(engine, batch):
        try:
            row_id = batch.ids[number]
            again = again or row_id is not None
            row: Any = DBTaskResult(
                id=row_id if row_id is not None else engine._get_id(),
                args_kwargs=normalize_json({"args": batch.runs[number].args, "kwargs": {}}),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                run_after=task.run_after if task.run_after is not None else get_date_max(),
                backend_name=engine.alias,
            )
        except Exception as exc:
            batch.failed(number, exc)
        else:
            batch.ids[number] = normalize_uuid(row.id)
            rows.append((number, row))
    if not rows:
        return
    # A database error escapes: it rolls back every run of the batch. Written again, a row
    # that the earlier attempt's commit (in flight, unseen by the check) stores is skipped:
    # the id is the key a second INSERT cannot duplicate.
    DBTaskResult.objects.using(database).bulk_create(
        [row for _, row in rows], ignore_conflicts=again
    )
    signals = importlib.import_module(f"{tasks_module().__name__}.signals")
    announced = [
        (
            number,
            normalize_uuid(row.id),
            row.task_path,
            functools.partial(getattr, row, "task_result"),
        )
        for number, row in rows
    ]
    announce(signals, type(engine), batch, announced)


def push_jobs(engine: Any, batch: Batch, database: str | None) -> None:
    """Enqueue to django-tasks-rq's RQBackend with one Redis pipeline per queue.

    Each job is made by RQ's ``create_job`` with the arguments its ``enqueue`` gives and
    enqueued by RQ's ``enqueue_job`` on the pipeline, so it is the job that ``enqueue``
    stores, on the same queue; the pipeline is one MULTI/EXEC, sent once: a Redis failure
    fails every run of that queue, unless the jobs are found stored after it (the reply was
    lost), and runs that Redis cannot be asked about are reported unsure. Deferred tasks
    (``run_after``) keep the per-run way, which schedules them.
    """
    import django_rq
    import django_tasks.signals
    import redis
    from django_tasks.base import TASK_MAX_PRIORITY
    from django_tasks.utils import get_random_id
    from django_tasks_rq.backend import Job, failed_callback, success_callback
    from rq import Callback
    from rq.job import JobStatus

    queues: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for number, task in validated(engine, batch):
        if task.run_after is None:
            queues[task.queue_name].append((number, task))
        else:
            batch.pending.append((number, task))
    for queue_name, runs in queues.items():
        jobs: list[tuple[int, Any]] = []
        try:
            queue = django_rq.get_queue(queue_name, job_class=Job)
            with queue.connection.pipeline() as pipeline:
                for number, task in runs:
                    job = queue.create_job(
                        task.module_path,
                        args=batch.runs[number].args,
                        kwargs={},
                        job_id=get_random_id(),
                        status=JobStatus.QUEUED,
                        on_failure=Callback(failed_callback),
                        on_success=Callback(success_callback),
                        meta={"backend_name": engine.alias},
                    )
                    at_front = task.priority == TASK_MAX_PRIORITY
                    queue.enqueue_job(job, pipeline=pipeline, at_front=at_front)
                    jobs.append((number, job))
                _execute_once(pipeline)
        except redis.RedisError as exc:
            # The reply to EXEC may be what was lost, the jobs stored: look before saying.
            stored = _rq_stored(queue, jobs) if jobs else False
            for number, _ in runs:
                if stored is None:
                    batch.unsure(number, exc)
                elif not stored:
                    batch.failed(number, exc)
            if not stored:
                continue
        except Exception:
            # Not Redis but a run (say, arguments it cannot pickle), and the pipeline is
            # dropped unsent: the runs of this queue go one by one, so that it fails alone.
            logging.getLogger("autosched").debug("Enqueueing one by one.", exc_info=True)
            batch.pending.extend(runs)
            continue
        announced = []
        for (number, job), (_, task) in zip(jobs, runs, strict=True):
            result = functools.partial(_rq_result, job, task, batch.backend)
            announced.append((number, job.id, job.func_name, result))
        announce(django_tasks.signals, type(engine), batch, announced)


def _execute_once(pipeline: Any) -> None:
    """Execute the MULTI/EXEC ``pipeline`` once, whatever retries its client is set up with.

    A transaction sent again after its reply was lost would push every job a second time.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    connection = pipeline.connection = pipeline.connection_pool.get_connection()
    retry, connection.retry = connection.retry, Retry(NoBackoff(), 0)
    try:
        pipeline.execute()
    finally:
        connection.retry = retry


def _rq_stored(queue: Any, jobs: Sequence[tuple[int, Any]]) -> bool | None:
    """Return whether the jobs of a transaction that failed are stored; None if Redis cannot
    say. A transaction is stored whole or not at all: one job found is all of them."""
    import redis

    try:
        return bool(queue.connection.exists(*(job.key for _, job in jobs)))
    except redis.RedisError:
        logging.getLogger("autosched").debug("Cannot look for the jobs.", exc_info=True)
        return None


def _rq_result(job: Any, task: Any, backend: str) -> Any:
    """The TaskResult that RQBackend.enqueue returns for ``job``."""
    from django_tasks.base import TaskResult, TaskResultStatus

    return TaskResult(
        task=task,
        id=job.id,
        status=TaskResultStatus.READY,
        enqueued_at=job.enqueued_at,
        started_at=None,
        last_attempted_at=None,
        finished_at=None,
        args=list(job.args),
        kwargs={},
        backend=backend,
        errors=[],
        worker_ids=[],
    )


_WRITERS: list[tuple[str, str, tuple[str, ...], Writer]] = [
    ("django_tasks_db.backend", "DatabaseBackend", ("enqueue", "_task_to_db_task"), insert_rows),
    ("django_tasks_rq.backend", "RQBackend", ("enqueue",), push_jobs),
    ("django_tasks_fennel.backend", "CeleryBackend", ("enqueue",), publish_confirmed),
]
