"""Where a row's runs go: in the scheduler process, or enqueued to a Django Tasks backend."""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils.translation import gettext_lazy as _

from autosched.runs import returns_coroutine

logger = logging.getLogger("autosched")

RUN_IN_PROCESS = "process"
RUN_ON_WORKER = "worker"
RUN_ON_CHOICES = [
    (RUN_IN_PROCESS, _("in the scheduler process")),
    (RUN_ON_WORKER, _("enqueued to a Django Tasks worker")),
]
DEFAULT_BACKEND = "default"
DEFAULT_QUEUE = "default"
# Django Tasks' bounds (django.tasks.base and the backport agree); repeated here so that the
# model and its migration do not need the Tasks framework installed.
MIN_PRIORITY = -100
MAX_PRIORITY = 100


class EnqueueError(RuntimeError):
    """A run could not be enqueued; the message names the task and the backend."""


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


def check_backend(run_on: str, backend: str) -> str | None:
    """Return why runs cannot be enqueued to ``backend``, or None if they can."""
    if run_on != RUN_ON_WORKER or backend in backend_aliases():
        return None
    return (
        f"{backend!r} is not a backend in the TASKS setting; "
        f"choose one of: {', '.join(backend_aliases())}."
    )


def enqueuer(
    key: str, name: str, *, backend: str, queue_name: str, priority: int
) -> Callable[[], None]:
    """Return a sync callable that enqueues one run of ``key`` for a worker."""

    def enqueue() -> None:
        # Runs in the core's thread pool, so a slow backend never blocks the event loop.
        try:
            from autosched.worker import run_periodic_task

            task = run_periodic_task.using(
                backend=backend, queue_name=queue_name, priority=priority
            )
            result = task.enqueue(key, name)
        except Exception as exc:
            # The thread keeps its connection between slots (a connection per enqueue would
            # cost more than the INSERT), but not a broken one: the next slot starts afresh.
            connections.close_all()
            raise EnqueueError(
                f"Cannot enqueue periodic task {name!r} to backend {backend!r}, queue "
                f"{queue_name!r}: {type(exc).__name__}: {exc}; trying again at the next slot."
            ) from exc
        logger.debug("Enqueued periodic task %r as %s.", name, result.id)

    enqueue.__qualname__ = enqueue.__name__ = f"enqueue[{key}]"
    return enqueue


def guarded(func: Callable[[], Any], holds: Callable[[], bool], name: str) -> Callable[[], Any]:
    """Wrap ``func`` so that it does nothing once this process may no longer launch runs."""
    # The fence at the last moment: a sync run may wait in the thread pool's queue, and must
    # not start after the lease could have passed to another process.
    if returns_coroutine(func):

        @functools.wraps(func)
        async def run_async() -> Any:
            if holds():
                return await func()
            _refuse(name)
            return None

        return run_async

    @functools.wraps(func)
    def run() -> Any:
        if holds():
            return func()
        _refuse(name)
        return None

    return run


def _refuse(name: str) -> None:
    logger.warning("Not running task %r: this process is no longer the active scheduler.", name)
