"""Enqueue a worker row's runs to a Django Tasks backend: one by one, or a batch in one go.

``enqueue_many`` takes the runs due together and enqueues them through the backend's own
``enqueue``, one transaction for the batch on a database backend; or, on the engines that
``autosched.engines`` knows, writes the whole batch the way their ``enqueue`` writes one run
(one INSERT on django-tasks-db, one Redis pipeline on django-tasks-rq, confirmed messages on
Celery over RabbitMQ). Each run gets its own outcome: enqueued, refused by the backend (a queue
it lacks), failed with the backend, or unsure (the backend did not confirm it: it may or may
not be enqueued). A run is reported enqueued only when the backend said so or it was found
stored after an error; nothing is written twice by a retry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, router, transaction

from autosched.engines import batch_writer
from autosched.scheduler.logs import event
from autosched.tokens import run_token
from autosched.worker import DEFAULT_QUEUE, tasks_module, worker_task

__all__ = [
    "BackendFailed",
    "BackendUnsure",
    "Batch",
    "EnqueueError",
    "RunToEnqueue",
    "enqueue_many",
    "enqueue_run",
]

logger = logging.getLogger("autosched")


class EnqueueError(RuntimeError):
    """A run could not be enqueued; the message names the task and the backend."""


class BackendFailed(EnqueueError):
    """The backend failed to take a run it accepted (its database or broker), rather than
    refusing the run itself (say, a queue it does not have)."""


class BackendUnsure(BackendFailed):
    """The backend did not confirm a run in time: it may or may not have been enqueued."""


@dataclass(frozen=True, slots=True)
class RunToEnqueue:
    """One run of the function registered as ``key`` for periodic task ``name``."""

    key: str
    name: str
    queue_name: str = DEFAULT_QUEUE
    priority: int = 0
    kwargs: dict[str, Any] = field(default_factory=dict)
    scheduled_at: str | None = None  # the slot, ISO 8601
    row_id: int | None = None  # the row's pk: its worker reports are keyed by it
    timeout: int | None = None  # the row's timeout_seconds, for the reports

    @property
    def args(self) -> tuple[Any, ...]:
        """The arguments of ``autosched.worker.run_periodic_task`` for this run.

        A run of a row adds the row, its timeout and the token that lets the worker report
        the run (``autosched.tokens``).
        """
        if self.row_id is None:
            return (self.key, self.name, self.kwargs, self.scheduled_at)
        token = run_token(self.row_id, self.key, self.scheduled_at, self.timeout)
        run = {"row": self.row_id, "timeout": self.timeout, "token": token}
        return (self.key, self.name, self.kwargs, self.scheduled_at, run)


class Batch:
    """Runs to enqueue to one backend, each with the framework's task for its queue.

    An engine's batch writer reads ``pending`` and reports each run with ``enqueued``,
    ``refused``, ``failed`` or ``unsure``; a run it leaves unreported goes the per-run way.
    """

    def __init__(self, backend: str, runs: Sequence[RunToEnqueue]) -> None:
        self.backend = backend
        self.runs = runs
        self.errors: list[EnqueueError | None] = [None] * len(runs)
        #: (number of the run, its task) of the runs not yet reported.
        self.pending: list[tuple[int, Any]] = []
        #: The id each run was written under by an attempt that may have been stored (a
        #: commit whose reply was lost): a retry looks for it and writes under it again.
        self.ids: list[str | None] = [None] * len(runs)
        #: The runs found stored by such an attempt: enqueued, whatever comes after.
        self.stored: set[int] = set()

    def enqueued(self, number: int, result_id: str) -> None:
        """Report that run ``number`` is enqueued, as ``result_id``."""
        self.errors[number] = None
        if logger.isEnabledFor(logging.DEBUG):  # one dict per run only when it is written
            run = self.runs[number]
            logger.debug(
                "Enqueued periodic task %r as %s.",
                run.name,
                result_id,
                extra=event("enqueued", run.name, slot=run.scheduled_at, outcome="ok"),
            )

    def refused(self, number: int, exc: BaseException) -> None:
        """Report that the backend refused run ``number`` itself (``exc`` says why)."""
        self.errors[number] = self._error(EnqueueError, number, exc)

    def failed(self, number: int, exc: BaseException) -> None:
        """Report that the backend failed to take run ``number`` (its database or broker)."""
        self.errors[number] = self._error(BackendFailed, number, exc)

    def unsure(self, number: int, exc: BaseException) -> None:
        """Report that the backend did not confirm run ``number``: it may be enqueued or not."""
        self.errors[number] = self._error(BackendUnsure, number, exc)

    def _error(self, kind: type[EnqueueError], number: int, exc: BaseException) -> EnqueueError:
        run = self.runs[number]
        unsure = " (unconfirmed: it may or may not be enqueued)" if kind is BackendUnsure else ""
        error = kind(
            f"Cannot enqueue periodic task {run.name!r} to backend {self.backend!r}, queue "
            f"{run.queue_name!r}{unsure}: {type(exc).__name__}: {exc}; trying again at the "
            "next slot."
        )
        error.__cause__ = exc
        return error


def enqueue_run(
    key: str,
    name: str,
    *,
    backend: str,
    queue_name: str,
    priority: int,
    kwargs: dict[str, Any] | None = None,
    scheduled_at: str | None = None,
) -> None:
    """Enqueue one run of the function registered as ``key`` for periodic task ``name``."""
    run = RunToEnqueue(key, name, queue_name, priority, kwargs or {}, scheduled_at)
    error = enqueue_many(backend, [run])[0]
    if error is not None:
        raise error


def enqueue_many(backend: str, runs: Sequence[RunToEnqueue]) -> list[EnqueueError | None]:
    """Enqueue ``runs`` to ``backend``; return each run's error, or None where it went.

    On a database backend (django-tasks-db) the runs go in one transaction: one commit for
    all, and a failure of the database fails them all (none was enqueued). Call it off the
    event loop: it blocks.
    """
    batch = Batch(backend, runs)
    tasks: dict[tuple[str, int], Any] = {}  # most runs of a batch share a queue and priority
    for number, run in enumerate(runs):
        where = (run.queue_name, run.priority)
        try:
            task = tasks.get(where)
            if task is None:
                # using() validates the queue and priority: a refusal of this run alone.
                task = tasks[where] = worker_task().using(
                    backend=backend, queue_name=run.queue_name, priority=run.priority
                )
        except Exception as exc:
            batch.refused(number, exc)
        else:
            batch.pending.append((number, task))
    if not batch.pending:
        return batch.errors
    database = _database_of(backend)
    pending = list(batch.pending)
    try:
        _enqueue(batch, database)
    except DatabaseError:
        # The thread keeps its connection between batches (a connection per batch would cost
        # more than its INSERTs), so it may be one the server closed while idle: try once
        # more on a fresh one before calling it a failure. The connection may also have died
        # with the COMMIT in flight, the batch stored and its reply lost: the retry first
        # looks for the ids the batch was written under, and writes again only what is not
        # there, under the same ids, so that no run is ever stored twice.
        connections.close_all()
        batch.pending = list(pending)
        try:
            _enqueue(batch, database, retry=True)
        except DatabaseError as exc:
            connections.close_all()  # the next batch starts afresh
            for number, _ in pending:
                if number not in batch.stored:
                    batch.failed(number, exc)
    return batch.errors


def _enqueue(batch: Batch, database: str | None, *, retry: bool = False) -> None:
    """Enqueue the batch's pending runs; a database error escapes (none was enqueued).

    On a ``retry``, the runs that an earlier attempt stored are found and reported first.
    """
    atomic = transaction.atomic(using=database) if database else contextlib.nullcontext()
    with atomic:
        if retry and database:
            _find_stored(batch, database)
        engine = tasks_module().task_backends[batch.backend]
        write = batch_writer(engine)
        if write is not None:
            write(engine, batch, database)
        _enqueue_each(batch, database)


def _enqueue_each(batch: Batch, database: str | None) -> None:
    """Enqueue the pending runs one by one, through the backend's own ``enqueue``."""
    pending, batch.pending = batch.pending, []
    for number, task in pending:
        try:
            result = task.enqueue(*batch.runs[number].args)
        except DatabaseError as exc:
            if database:
                raise  # inside the transaction: it rolled back every run of the batch
            connections.close_all()
            batch.failed(number, exc)
        except Exception as exc:
            batch.failed(number, exc)
        else:
            if database:
                batch.ids[number] = str(result.id)  # in a transaction that may be stored
            batch.enqueued(number, result.id)


def _find_stored(batch: Batch, database: str) -> None:
    """Report as enqueued the pending runs whose rows an earlier attempt stored."""
    if not any(batch.ids[number] for number, _ in batch.pending):
        return  # the earlier attempt failed before it wrote a run
    from django_tasks_db.models import DBTaskResult  # a database backend is django-tasks-db's
    from django_tasks_db.utils import normalize_uuid

    written = {
        normalize_uuid(result_id): number
        for number, _ in batch.pending
        if (result_id := batch.ids[number]) is not None
    }
    found = DBTaskResult.objects.using(database).filter(id__in=list(written))
    for result_id in found.values_list("id", flat=True):
        number = written[normalize_uuid(result_id)]
        batch.stored.add(number)
        batch.enqueued(number, normalize_uuid(result_id))
    batch.pending = [(number, task) for number, task in batch.pending if number not in batch.stored]


def _database_of(backend: str) -> str | None:
    """Return the database alias that ``backend`` stores runs in, or None if it is not one."""
    try:
        from django_tasks_db.backend import DatabaseBackend
    except ImportError:
        return None
    if not isinstance(tasks_module().task_backends[backend], DatabaseBackend):
        return None
    from django_tasks_db.models import DBTaskResult  # only where its app is installed

    return router.db_for_write(DBTaskResult)
