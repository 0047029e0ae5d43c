"""What the core calls for a row: the registered function with the row's keyword arguments
(and its slot, if it asks for one) in fresh connections, or an enqueue of that run."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from autosched.registry import SLOT_PARAMETER, RegisteredFunction
from autosched.scheduler import current_slot, returns_coroutine
from autosched.worker import enqueue_run

__all__ = ["enqueuer", "in_process", "with_fresh_connections"]


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


def in_process(registered: RegisteredFunction, kwargs: dict[str, Any]) -> Callable[[], Any]:
    """Return what the core calls to run ``registered`` in this process with ``kwargs``."""
    func = registered.func
    takes_slot = registered.takes_slot
    if not kwargs and not takes_slot:
        return with_fresh_connections(func)
    arguments = dict(kwargs)  # a copy: the row's dict must not change under a running task

    def slot() -> dict[str, Any]:
        return {SLOT_PARAMETER: current_slot()} if takes_slot else {}

    if registered.is_async:

        async def run_async() -> Any:
            return await func(**arguments, **slot())

        return functools.update_wrapper(run_async, func)

    def run() -> Any:
        return func(**arguments, **slot())

    return with_fresh_connections(functools.update_wrapper(run, func))


def enqueuer(
    key: str,
    name: str,
    *,
    backend: str,
    queue_name: str,
    priority: int,
    kwargs: dict[str, Any] | None = None,
) -> Callable[[], None]:
    """Return a sync callable that enqueues one run of ``key`` for a worker."""
    arguments = dict(kwargs or {})

    def enqueue() -> None:
        # Runs in the core's thread pool, so a slow backend never blocks the event loop.
        slot = current_slot()
        enqueue_run(
            key,
            name,
            backend=backend,
            queue_name=queue_name,
            priority=priority,
            kwargs=arguments,
            scheduled_at=slot.isoformat() if slot is not None else None,
        )

    enqueue.__qualname__ = enqueue.__name__ = f"enqueue[{key}]"
    return enqueue
