"""What the core calls for a row: the registered function in fresh connections, or an enqueue."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from autosched.scheduler import returns_coroutine
from autosched.worker import enqueue_run

__all__ = ["enqueuer", "with_fresh_connections"]


def with_fresh_connections(func: Callable[[], Any]) -> Callable[[], Any]:
    """Wrap a sync ``func`` so stale database connections are closed before and after it."""
    if returns_coroutine(func):
        return func

    @functools.wraps(func)
    def run() -> Any:
        # Worker threads keep their connections between runs, like a request thread does:
        # drop broken or expired ones on the way in and out, as Django does per request.
        close_old_connections()
        try:
            return func()
        finally:
            close_old_connections()

    return run


def enqueuer(
    key: str, name: str, *, backend: str, queue_name: str, priority: int
) -> Callable[[], None]:
    """Return a sync callable that enqueues one run of ``key`` for a worker."""

    def enqueue() -> None:
        # Runs in the core's thread pool, so a slow backend never blocks the event loop.
        enqueue_run(key, name, backend=backend, queue_name=queue_name, priority=priority)

    enqueue.__qualname__ = enqueue.__name__ = f"enqueue[{key}]"
    return enqueue
