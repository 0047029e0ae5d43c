"""The one Django Tasks task that runs a registered function on a worker, by its key.

Imported only when a run is enqueued or a worker executes one: importing it needs Django's
Tasks framework (``django.tasks`` on Django 6, the ``django-tasks`` backport on 5.2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync

from autosched.registry import registry
from autosched.targets import tasks_module

logger = logging.getLogger("autosched")

_task: Callable[[Callable[..., None]], Any] = tasks_module().task


@_task
def run_periodic_task(key: str, name: str = "") -> None:
    """Run the function registered under ``key`` (never an arbitrary dotted path)."""
    registered = registry.get(key)
    if registered is None:
        raise LookupError(
            f"Periodic task {name!r}: {key!r} is not a registered function in this worker; "
            "deploy the code that registers it."
        )
    logger.info("Running periodic task %r (%s) on a worker.", name, key)
    if registered.is_async:
        async_to_sync(registered.func)()
    else:
        registered.func()
