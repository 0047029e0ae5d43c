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
import threading
import time
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.dispatch import Signal

from autosched.registry import SLOT_PARAMETER, registry
from autosched.reports import going_on, heartbeat_every, lost_end, reporter
from autosched.scheduler.errors import STATUS_ERROR_LIMIT, describe
from autosched.scheduler.logs import event
from autosched.signals import send_robustly, task_finished, task_started
from autosched.tokens import check_run_token

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "Worker",
    "WorkerLost",
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
    run: dict[str, Any] | None = None,
) -> None:
    """Run the function registered under ``key`` (never an arbitrary dotted path).

    ``run`` is what the scheduler adds to a run it enqueued for a row: ``{"row": pk,
    "timeout": seconds or None, "token": ...}`` (``autosched.tokens``); the run is reported
    to the status only when it carries a token that matches. A refusal before the function
    is called (not registered here, keyword arguments that no longer fit) is reported and
    signalled as a failed run, like an exception from the function.
    """
    row, timeout = _row_of(key, name, scheduled_at, run)
    try:
        slot = datetime.fromisoformat(scheduled_at) if scheduled_at else None
        problem: Exception | None = None
    except (TypeError, ValueError) as exc:
        slot, problem = None, exc
    worker_run = WorkerRun(name or key, slot, row=row, slot_key=scheduled_at, timeout=timeout)
    logger.info(
        "Running periodic task %r (%s) on a worker.",
        worker_run.name,
        key,
        extra=event("started", worker_run.name, slot=slot),
    )
    worker_run.started()
    try:
        if problem is not None:
            raise ValueError(f"Periodic task {name!r}: bad slot {scheduled_at!r}: {problem}")
        registered = registry.get(key)
        if registered is None:
            raise LookupError(
                f"Periodic task {name!r}: {key!r} is not a registered function in this worker; "
                "deploy the code that registers it."
            )
        arguments = dict(registered.check_kwargs(kwargs or {}))
        if registered.takes_slot:
            arguments[SLOT_PARAMETER] = slot or datetime.now(UTC)
        if registered.is_async:
            async_to_sync(registered.func)(**arguments)
        else:
            registered.func(**arguments)
    except BaseException as exc:
        worker_run.finished(exc)
        raise  # the engine records the run as failed, with its traceback
    worker_run.finished(None)


def _row_of(
    key: str, name: str, scheduled_at: str | None, run: object
) -> tuple[int | None, int | None]:
    """Return the row and timeout a run is reported for, or None if it is not reported."""
    if run is None:
        logger.warning(
            "Not reporting the run of periodic task %r to the status: it was enqueued without "
            "its row's identity (by a scheduler on an older autosched?).",
            name,
            extra=event("report_refused", name, slot=scheduled_at),
        )
        return None, None
    row = run.get("row") if isinstance(run, dict) else None
    timeout = run.get("timeout") if isinstance(run, dict) else None
    token = run.get("token") if isinstance(run, dict) else None
    if (
        isinstance(row, int)
        and not isinstance(row, bool)
        and (timeout is None or (isinstance(timeout, int) and not isinstance(timeout, bool)))
        and isinstance(token, str)
        and check_run_token(row, key, scheduled_at, timeout, token)
    ):
        return row, timeout
    logger.warning(
        "Not reporting the run of periodic task %r to the status: its token does not match "
        "(not enqueued by this project's scheduler, or another SECRET_KEY).",
        name,
        extra=event("report_refused", name, slot=scheduled_at),
    )
    return None, None


class WorkerLost(RuntimeError):
    """A run on a worker stopped being heard from before it ended (its worker was killed)."""


class Worker:
    """The ``sender`` of ``task_started``/``task_finished`` when a worker runs a periodic task.

    The scheduler process sends them with ``sender=autosched.Scheduler`` for the runs it makes
    itself, and none for a worker row's enqueue: each run is heard once, where it ran. A run
    whose worker was killed is heard by the worker that runs its row next: ``task_finished``,
    outcome "error", with a ``WorkerLost``.
    """


class WorkerRun:
    """One run on a worker: its log lines, its reports to the status cache and its signals."""

    def __init__(
        self,
        name: str,
        scheduled_at: datetime | None,
        *,
        row: int | None = None,
        slot_key: str | None = None,
        timeout: int | None = None,
    ) -> None:
        self.name = name
        self.scheduled_at = scheduled_at
        self.row = row
        self.timeout = timeout
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = datetime.now(UTC)
        # The run's key in the reports: its slot, or its start for a run without one.
        self.slot = slot_key or self.started_at.isoformat()
        self._began = time.perf_counter()
        self._stop_beating = threading.Event()
        self._beating: threading.Thread | None = None

    def started(self) -> None:
        """Report the start, beat while it runs, and send ``task_started``."""
        if self.row is not None:
            run = going_on(
                self.row,
                self.name,
                slot=self.slot,
                started_at=self.started_at,
                scheduled_at=self.scheduled_at,
                host=self.host,
                pid=self.pid,
                timeout=self.timeout,
            )
            lost = reporter.started(run)
            self._beating = threading.Thread(
                target=self._beat, args=(run,), name="autosched-report-beat", daemon=True
            )
            self._beating.start()
            for gone in lost:
                self._lost(gone)
        _send(task_started, name=self.name, started_at=self.started_at)

    def _beat(self, run: dict[str, Any]) -> None:
        while not self._stop_beating.wait(heartbeat_every()):
            reporter.beat(run, datetime.now(UTC))

    def _lost(self, gone: dict[str, Any]) -> None:
        end = lost_end(gone)
        logger.error(
            "Periodic task %r was lost on a worker: %s",
            gone.get("name"),
            end["error"],
            extra=event("run_lost", gone.get("name"), outcome="error"),
        )
        _send(
            task_finished,
            name=gone.get("name") or self.name,
            started_at=datetime.fromisoformat(end["started_at"]),
            outcome="error",
            duration=end["duration"],
            exception=WorkerLost(end["error"].removeprefix("WorkerLost: ")),
        )

    def finished(self, error: BaseException | None) -> None:
        """Log and report the end (``error`` None: it succeeded) and send ``task_finished``."""
        duration = time.perf_counter() - self._began
        self._stop_beating.set()
        if self._beating is not None:
            self._beating.join()  # no heartbeat may bring the run back once it is reported
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
        if self.row is not None:
            reporter.finished(
                self.row,
                self.name,
                slot=self.slot,
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
