"""Make autosched's worker task known to engines that register tasks when they are made.

Celery workers run only the tasks in their registry, and django-tasks-fennel adds a task to it
when a Task of its own class is made. A Task's class is its backend's ``task_class``, fixed when
``@task`` makes it; ``autosched.worker.run_periodic_task`` is made on the default backend. So
for every other backend in ``TASKS`` with a ``task_class`` of its own, this module makes the task
once more, on that backend, so that the worker's registry holds it whatever backend a row names.
Celery imports each installed app's ``tasks`` module at worker startup, and so does autosched
(for the functions it schedules), so this runs in every process, web and scheduler too: there it
only makes Task objects, which is cheap and enqueues nothing. Backends whose ``task_class`` is
the framework's own Task (django-tasks-db, django-tasks-rq, the built-in ones) are left alone:
their workers find the task by its dotted path.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from autosched.worker import DEFAULT_QUEUE, tasks_module
from autosched.worker import _run_periodic_task as run_on_worker

__all__ = ["register_worker_task"]

logger = logging.getLogger("autosched")

#: The framework's own Task classes: a backend using one finds tasks by their dotted path.
PLAIN_TASK_CLASSES = ("django.tasks.base.Task", "django_tasks.base.Task")


def register_worker_task() -> list[str]:
    """Make the worker task on each backend that registers tasks; return those aliases."""
    configured: dict[str, dict[str, Any]] = getattr(settings, "TASKS", None) or {}
    try:
        module = tasks_module()
    except ImportError:
        return []  # no Tasks framework: only rows that run in the scheduler process work
    registered = []
    for alias, options in configured.items():
        try:
            task_class = import_string(options.get("BACKEND", "")).task_class
        except ImportError:
            continue  # Django's own check of TASKS reports it
        if f"{task_class.__module__}.{task_class.__qualname__}" in PLAIN_TASK_CLASSES:
            continue
        try:
            # Making the task validates its queue against the backend's; runs name their own.
            queues = module.task_backends[alias].queues
            queue = DEFAULT_QUEUE if not queues or DEFAULT_QUEUE in queues else min(queues)
            module.task(backend=alias, queue_name=queue)(run_on_worker)
        except Exception as exc:  # a broken backend must not stop every process from starting
            logger.warning(
                "Cannot make autosched's worker task on Tasks backend %r: %s: %s",
                alias,
                type(exc).__name__,
                exc,
            )
            continue
        registered.append(alias)
        logger.debug("Made autosched's worker task on Tasks backend %r.", alias)
    return registered


register_worker_task()
