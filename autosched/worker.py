"""Everything Django Tasks: the task that runs a registered function on a worker, and enqueueing.

Django's Tasks framework is ``django.tasks`` on Django 6 and the ``django-tasks`` backport on
Django 5.2. It is imported only when a run is enqueued or a worker executes one, so that
autosched works without it for rows that run in the scheduler process.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.dispatch import Signal

from autosched.registry import SLOT_PARAMETER, registry
from autosched.reports import reporter
from autosched.scheduler.errors import STATUS_ERROR_LIMIT, describe
from autosched.signals import send_robustly, task_finished, task_started

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "BackendFailed",
    "EnqueueError",
    "RunToEnqueue",
    "Worker",
    "backend_aliases",
    "backend_queues",
    "check_backend",
    "enqueue_many",
    "enqueue_run",
    "run_periodic_task",  # noqa: F822 - made on first use, by __getattr__
    "tasks_module",
]

logger = logging.getLogger("autosched")

DEFAULT_BACKEND = "default"
DEFAULT_QUEUE = "default"
# Django Tasks' bounds (django.tasks.base and the backport agree); repeated here so that the
# model and its migration do not need the Tasks framework installed.
MIN_PRIORITY = -100
MAX_PRIORITY = 100


class EnqueueError(RuntimeError):
    """A run could not be enqueued; the message names the task and the backend."""


class BackendFailed(EnqueueError):
    """The backend failed to take a run it accepted (its database or broker), rather than
    refusing the run itself (say, a queue it does not have)."""


@dataclass(frozen=True, slots=True)
class RunToEnqueue:
    """One run of the function registered as ``key`` for periodic task ``name``."""

    key: str
    name: str
    queue_name: str = DEFAULT_QUEUE
    priority: int = 0
    kwargs: dict[str, Any] = field(default_factory=dict)
    scheduled_at: str | None = None  # the slot, ISO 8601


def tasks_module() -> ModuleType:
    """Return Django's Tasks framework: ``django.tasks``, or the ``django_tasks`` backport."""
    try:
        return importlib.import_module("django.tasks")
    except ImportError:
        pass
    try:
        return importlib.import_module("django_tasks")
    except ImportError:
        raise ImportError(
            "Enqueueing runs needs Django 6's django.tasks or, on Django 5.2, the django-tasks "
            "backport: pip install 'autosched[worker]'."
        ) from None


def backend_aliases() -> list[str]:
    """Return the Django Tasks backend aliases configured in the ``TASKS`` setting."""
    configured = getattr(settings, "TASKS", None)
    # Both Django 6 and the backport fall back to one "default" backend without the setting.
    return sorted(configured) if configured else [DEFAULT_BACKEND]


def check_backend(backend: str) -> str | None:
    """Return why runs cannot be enqueued to ``backend``, or None if they can."""
    if backend in backend_aliases():
        return None
    return (
        f"{backend!r} is not a backend in the TASKS setting; "
        f"choose one of: {', '.join(backend_aliases())}."
    )


def backend_queues(backend: str) -> frozenset[str] | None:
    """Return the queues ``backend`` serves; None when any will do or it cannot be known.

    Django Tasks backends list them in ``queues``, from their ``QUEUES`` option (absent:
    only "default"; empty: any queue).
    """
    try:
        queues = tasks_module().task_backends[backend].queues
    except Exception:  # no framework, an unknown alias, a broken backend: said elsewhere
        return None
    return frozenset(queues) if queues else None


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
    all, and a failure of the database fails them all (none was enqueued); on its
    DatabaseBackend they are one INSERT too (``_insert_prepared``). Elsewhere each run is
    enqueued on its own, by the backend's ``enqueue``. Call it off the event loop: it blocks.
    """
    errors: list[EnqueueError | None] = [None] * len(runs)
    prepared: list[tuple[int, Any]] = []
    tasks: dict[tuple[str, int], Any] = {}  # most runs of a batch share a queue and priority
    for number, run in enumerate(runs):
        where = (run.queue_name, run.priority)
        try:
            task = tasks.get(where)
            if task is None:
                # using() validates the queue and priority: a refusal of this run alone.
                task = tasks[where] = _task().using(
                    backend=backend, queue_name=run.queue_name, priority=run.priority
                )
        except Exception as exc:
            errors[number] = _error(EnqueueError, backend, run, exc)
        else:
            prepared.append((number, task))
    if not prepared:
        return errors
    database = _database_of(backend)
    enqueue = _insert_prepared if database and _can_bulk_insert(backend) else _enqueue_prepared
    try:
        enqueue(backend, runs, prepared, database, errors)
    except DatabaseError:
        # The thread keeps its connection between batches (a connection per batch would cost
        # more than its INSERTs), so it may be one the server closed while idle: try once
        # more on a fresh one before calling it a failure.
        connections.close_all()
        try:
            enqueue(backend, runs, prepared, database, errors)
        except DatabaseError as exc:
            connections.close_all()  # the next batch starts afresh
            for number, _ in prepared:
                errors[number] = _error(BackendFailed, backend, runs[number], exc)
    return errors


def _enqueue_prepared(
    backend: str,
    runs: Sequence[RunToEnqueue],
    prepared: list[tuple[int, Any]],
    database: str | None,
    errors: list[EnqueueError | None],
) -> None:
    # A database error inside the transaction escapes (it rolled back every run); any other
    # error is that run's alone.
    atomic = transaction.atomic(using=database) if database else contextlib.nullcontext()
    with atomic:
        for number, task in prepared:
            run = runs[number]
            try:
                result = task.enqueue(run.key, run.name, run.kwargs, run.scheduled_at)
            except DatabaseError as exc:
                if database:
                    raise
                connections.close_all()
                errors[number] = _error(BackendFailed, backend, run, exc)
            except Exception as exc:
                errors[number] = _error(BackendFailed, backend, run, exc)
            else:
                errors[number] = None
                logger.debug("Enqueued periodic task %r as %s.", run.name, result.id)


def _insert_prepared(
    backend: str,
    runs: Sequence[RunToEnqueue],
    prepared: list[tuple[int, Any]],
    database: str | None,
    errors: list[EnqueueError | None],
) -> None:
    """Enqueue to django-tasks-db's DatabaseBackend with one INSERT for the whole batch.

    Its ``enqueue`` costs about 1 ms of CPU per run (an INSERT of its own, then a TaskResult
    built by importing the task again); this writes the very rows it writes. The rows are
    made as its ``_task_to_db_task`` makes them, with ``run_after`` set as its ``pre_save``
    receiver would (``bulk_create`` sends no ``pre_save``), and the task is validated once per
    queue and priority rather than once per run. ``task_enqueued`` is sent, with each run's
    TaskResult, only when a receiver other than the framework's own debug log listens; that
    log line is written here instead. A backend whose ``id_function`` gives database
    expressions (Django 6) goes the per-run way: the ids are then known only after each INSERT.
    """
    from django.db.models import Expression
    from django_tasks_db.compat import TASKS_LOGGER, normalize_json, task_enqueued
    from django_tasks_db.models import DBTaskResult, get_date_max
    from django_tasks_db.utils import normalize_uuid

    engine = tasks_module().task_backends[backend]
    refusals: dict[int, Exception | None] = {}  # by task: one per queue and priority
    rows: list[tuple[int, Any]] = []
    for number, task in prepared:
        run = runs[number]
        try:
            if id(task) not in refusals:
                try:
                    engine.validate_task(task)
                except Exception as exc:
                    refusals[id(task)] = exc
                else:
                    refusals[id(task)] = None
            if (refusal := refusals[id(task)]) is not None:
                raise refusal
            row_id = engine._get_id()
            if isinstance(row_id, Expression):
                _enqueue_prepared(backend, runs, prepared, database, errors)
                return
            args = (run.key, run.name, run.kwargs, run.scheduled_at)  # as task.enqueue passes
            row: Any = DBTaskResult(
                id=row_id,
                args_kwargs=normalize_json({"args": args, "kwargs": {}}),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                run_after=task.run_after if task.run_after is not None else get_date_max(),
                backend_name=engine.alias,
            )
        except Exception as exc:
            errors[number] = _error(BackendFailed, backend, run, exc)
        else:
            rows.append((number, row))
    if not rows:
        return
    sender = type(engine)
    notify = _has_other_receivers(task_enqueued, sender)
    tasks_logger = logging.getLogger(TASKS_LOGGER)
    with transaction.atomic(using=database):
        # A database error escapes: it rolled back every run of the batch.
        DBTaskResult.objects.using(database).bulk_create([row for _, row in rows])
        for number, row in rows:
            run = runs[number]
            try:
                if notify:
                    task_enqueued.send(sender, task_result=row.task_result)
            except Exception as exc:
                errors[number] = _error(BackendFailed, backend, run, exc)
                continue
            errors[number] = None
            if not notify and tasks_logger.isEnabledFor(logging.DEBUG):
                tasks_logger.debug(
                    "Task id=%s path=%s enqueued backend=%s",
                    normalize_uuid(row.id),
                    row.task_path,
                    row.backend_name,
                )
            logger.debug("Enqueued periodic task %r as %s.", run.name, normalize_uuid(row.id))


def _has_other_receivers(signal: Signal, sender: type) -> bool:
    """Whether ``signal`` has a receiver for ``sender`` besides the framework's debug log."""
    if not signal.has_listeners(sender):
        return False
    own = getattr(
        importlib.import_module(f"{tasks_module().__name__}.signals"), "log_task_enqueued", None
    )
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return bool(async_receivers) or any(receiver is not own for receiver in sync_receivers)


def _error(
    kind: type[EnqueueError], backend: str, run: RunToEnqueue, exc: BaseException
) -> EnqueueError:
    error = kind(
        f"Cannot enqueue periodic task {run.name!r} to backend {backend!r}, queue "
        f"{run.queue_name!r}: {type(exc).__name__}: {exc}; trying again at the next slot."
    )
    error.__cause__ = exc
    return error


def _can_bulk_insert(backend: str) -> bool:
    """Whether ``backend`` is django-tasks-db's DatabaseBackend, its enqueue not overridden."""
    from django_tasks_db.backend import DatabaseBackend  # _database_of found it importable

    kind = type(tasks_module().task_backends[backend])
    return (
        issubclass(kind, DatabaseBackend)
        and kind.enqueue is DatabaseBackend.enqueue
        and kind._task_to_db_task is DatabaseBackend._task_to_db_task
    )


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


def _run_periodic_task(
    key: str,
    name: str = "",
    kwargs: dict[str, Any] | None = None,
    scheduled_at: str | None = None,
) -> None:
    """Run the function registered under ``key`` (never an arbitrary dotted path)."""
    registered = registry.get(key)
    if registered is None:
        raise LookupError(
            f"Periodic task {name!r}: {key!r} is not a registered function in this worker; "
            "deploy the code that registers it."
        )
    arguments = dict(registered.check_kwargs(kwargs or {}))
    slot = datetime.fromisoformat(scheduled_at) if scheduled_at else None
    if registered.takes_slot:
        arguments[SLOT_PARAMETER] = slot or datetime.now(UTC)
    run = WorkerRun(name or key, slot)
    logger.info("Running periodic task %r (%s) on a worker.", run.name, key)
    run.started()
    try:
        if registered.is_async:
            async_to_sync(registered.func)(**arguments)
        else:
            registered.func(**arguments)
    except BaseException as exc:
        run.finished(exc)
        raise  # the engine records the run as failed, with its traceback
    run.finished(None)


class Worker:
    """The ``sender`` of ``task_started``/``task_finished`` when a worker runs a periodic task.

    The scheduler process sends them with ``sender=autosched.Scheduler`` for the runs it makes
    itself, and none for a worker row's enqueue: each run is heard once, where it ran.
    """


class WorkerRun:
    """One run on a worker: its log lines, its report to the status cache and its signals."""

    def __init__(self, name: str, scheduled_at: datetime | None) -> None:
        self.name = name
        self.scheduled_at = scheduled_at
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = datetime.now(UTC)
        self._began = time.perf_counter()

    def started(self) -> None:
        """Report the start and send ``task_started``."""
        reporter.started(
            self.name,
            started_at=self.started_at,
            scheduled_at=self.scheduled_at,
            host=self.host,
            pid=self.pid,
        )
        _send(task_started, name=self.name, started_at=self.started_at)

    def finished(self, error: BaseException | None) -> None:
        """Log and report the end (``error`` None: it succeeded) and send ``task_finished``."""
        duration = time.perf_counter() - self._began
        if error is None:
            outcome = "ok"
            logger.info("Periodic task %r succeeded on a worker in %.3f s.", self.name, duration)
        else:
            outcome = "error" if isinstance(error, Exception) else "cancelled"
            # One line: the engine logs the traceback of the exception raised on.
            logger.error(
                "Periodic task %r %s on a worker after %.3f s: %s",
                self.name,
                "failed" if outcome == "error" else "was cancelled",
                duration,
                describe(error),
            )
        reporter.finished(
            self.name,
            started_at=self.started_at,
            finished_at=self.started_at + timedelta(seconds=duration),
            scheduled_at=self.scheduled_at,
            outcome=outcome,
            error=describe(error, STATUS_ERROR_LIMIT) if error is not None else None,
            host=self.host,
            pid=self.pid,
        )
        _send(
            task_finished,
            name=self.name,
            started_at=self.started_at,
            outcome=outcome,
            duration=duration,
            exception=error,
        )


def _send(signal: Signal, **kwargs: Any) -> None:
    # As in the scheduler: a receiver that raises is logged and changes nothing.
    if signal.has_listeners(Worker):
        send_robustly(signal, Worker, **kwargs)


# Workers find the task by its dotted path, autosched.worker.run_periodic_task.
_run_periodic_task.__name__ = _run_periodic_task.__qualname__ = "run_periodic_task"


def _task() -> Any:
    # The Tasks framework's @task is applied on first use, not at import: importing this
    # module (the models do, for the backend checks) must work without the framework.
    task = globals().get("run_periodic_task")
    if task is None:
        module = tasks_module()
        # Making the task validates its queue against the default backend's QUEUES. Every
        # run names its own queue (``using``), so any queue that backend accepts will do.
        queues = module.task_backends[DEFAULT_BACKEND].queues
        queue = DEFAULT_QUEUE if not queues or DEFAULT_QUEUE in queues else min(queues)
        task = module.task(queue_name=queue)(_run_periodic_task)
        globals()["run_periodic_task"] = task
    return task


def __getattr__(name: str) -> Any:
    if name == "run_periodic_task":
        return _task()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
