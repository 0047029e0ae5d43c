"""Django Tasks on workers: the task that runs a registered function there, and its reports.

Enqueueing its runs is ``autosched.enqueue``. Django's Tasks framework is ``django.tasks`` on
Django 6 and the ``django-tasks`` backport on Django 5.2. It is imported only when a run is
enqueued or a worker executes one, so that autosched works without it for rows that run in the
scheduler process.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.dispatch import Signal

from autosched.registry import SLOT_PARAMETER, registry
from autosched.reports import reporter
from autosched.scheduler.errors import STATUS_ERROR_LIMIT, describe
from autosched.scheduler.logs import event
from autosched.signals import send_robustly, task_finished, task_started

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "Worker",
    "backend_aliases",
    "backend_queues",
    "backend_takes_priority",
    "check_backend",
    "run_periodic_task",  # noqa: F822 - made on first use, by __getattr__
    "tasks_module",
    "worker_task",
]

logger = logging.getLogger("autosched")

DEFAULT_BACKEND = "default"
DEFAULT_QUEUE = "default"
# Django Tasks' bounds (django.tasks.base and the backport agree); repeated here so that the
# model and its migration do not need the Tasks framework installed.
MIN_PRIORITY = -100
MAX_PRIORITY = 100


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


def backend_takes_priority(backend: str) -> bool | None:
    """Return whether ``backend`` takes a priority other than 0; None if it cannot be known.

    RQ's backend, for one, refuses any other priority at every enqueue.
    """
    try:
        return bool(tasks_module().task_backends[backend].supports_priority)
    except Exception:  # no framework, an unknown alias, a broken backend: said elsewhere
        return None


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
    logger.info(
        "Running periodic task %r (%s) on a worker.",
        run.name,
        key,
        extra=event("started", run.name, slot=slot),
    )
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
        outcome = (
            "ok" if error is None else "error" if isinstance(error, Exception) else "cancelled"
        )
        extra = event(
            "finished", self.name, slot=self.scheduled_at, outcome=outcome, duration_s=duration
        )
        if error is None:
            logger.info(
                "Periodic task %r succeeded on a worker in %.3f s.",
                self.name,
                duration,
                extra=extra,
            )
        else:
            # One line: the engine logs the traceback of the exception raised on.
            logger.error(
                "Periodic task %r %s on a worker after %.3f s: %s",
                self.name,
                "failed" if outcome == "error" else "was cancelled",
                duration,
                describe(error),
                extra=extra,
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


def worker_task() -> Any:
    """Return the Tasks framework's task that runs a periodic task on a worker."""
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
        return worker_task()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
