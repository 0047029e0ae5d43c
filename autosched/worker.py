"""Everything Django Tasks: the task that runs a registered function on a worker, and enqueueing.

Django's Tasks framework is ``django.tasks`` on Django 6 and the ``django-tasks`` backport on
Django 5.2. It is imported only when a run is enqueued or a worker executes one, so that
autosched works without it for rows that run in the scheduler process.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError, connections, router, transaction

from autosched.registry import SLOT_PARAMETER, registry

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "BackendFailed",
    "EnqueueError",
    "RunToEnqueue",
    "backend_aliases",
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
    all, and a failure of the database fails them all (none was enqueued). Elsewhere each run
    is enqueued on its own. Call it off the event loop: it blocks.
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
    try:
        _enqueue_prepared(backend, runs, prepared, database, errors)
    except DatabaseError:
        # The thread keeps its connection between batches (a connection per batch would cost
        # more than its INSERTs), so it may be one the server closed while idle: try once
        # more on a fresh one before calling it a failure.
        connections.close_all()
        try:
            _enqueue_prepared(backend, runs, prepared, database, errors)
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


def _error(
    kind: type[EnqueueError], backend: str, run: RunToEnqueue, exc: BaseException
) -> EnqueueError:
    error = kind(
        f"Cannot enqueue periodic task {run.name!r} to backend {backend!r}, queue "
        f"{run.queue_name!r}: {type(exc).__name__}: {exc}; trying again at the next slot."
    )
    error.__cause__ = exc
    return error


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
    if registered.takes_slot:
        slot = datetime.fromisoformat(scheduled_at) if scheduled_at else datetime.now(UTC)
        arguments[SLOT_PARAMETER] = slot
    logger.info("Running periodic task %r (%s) on a worker.", name, key)
    if registered.is_async:
        async_to_sync(registered.func)(**arguments)
    else:
        registered.func(**arguments)


# Workers find the task by its dotted path, autosched.worker.run_periodic_task.
_run_periodic_task.__name__ = _run_periodic_task.__qualname__ = "run_periodic_task"


def _task() -> Any:
    # The Tasks framework's @task is applied on first use, not at import: importing this
    # module (the models do, for the backend checks) must work without the framework.
    task = globals().get("run_periodic_task")
    if task is None:
        task = globals()["run_periodic_task"] = tasks_module().task(_run_periodic_task)
    return task


def __getattr__(name: str) -> Any:
    if name == "run_periodic_task":
        return _task()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
