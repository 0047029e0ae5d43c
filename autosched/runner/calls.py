"""What the core calls for a row: the registered function with the row's keyword arguments
(and its slot, if it asks for one) in fresh connections, or an enqueue of that run."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from django.db import close_old_connections

from autosched.enqueue import RunToEnqueue
from autosched.registry import SLOT_PARAMETER, RegisteredFunction
from autosched.runner.bulk import EnqueueBatcher
from autosched.scheduler import current_slot, returns_coroutine

__all__ = ["enqueuer", "in_process", "is_enqueuer", "shared_batcher", "with_fresh_connections"]


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
    batcher: EnqueueBatcher | None = None,
    row_id: int | None = None,
    timeout: int | None = None,
) -> Callable[[], Awaitable[None]]:
    """Return an async callable that enqueues one run of ``key`` for a worker.

    The run goes in a batch with the others due at the same time (``batcher``, by default
    one shared by the process), in the batcher's threads: never on the event loop. With
    ``row_id``, the row's pk, the worker reports the run for that row (``autosched.reports``).
    """
    arguments = dict(kwargs or {})

    async def enqueue() -> None:
        slot = current_slot()  # on the loop, in the run's context
        run = RunToEnqueue(
            key,
            name,
            queue_name=queue_name,
            priority=priority,
            kwargs=arguments,
            scheduled_at=slot.isoformat() if slot is not None else None,
            row_id=row_id,
            timeout=timeout,
        )
        await (batcher or shared_batcher()).enqueue(backend, run)

    enqueue.__qualname__ = enqueue.__name__ = f"enqueue[{key}]"
    _enqueuers.add(enqueue)
    return enqueue


#: Every callable ``enqueuer`` made and still in use.
_enqueuers: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def is_enqueuer(func: Callable[..., Any]) -> bool:
    """Return whether ``func`` only enqueues a run for a worker (it was made by ``enqueuer``)."""
    return func in _enqueuers


_shared: list[EnqueueBatcher] = []


def shared_batcher() -> EnqueueBatcher:
    """Return the batcher of the enqueuers made without one of their own."""
    if not _shared:
        _shared.append(EnqueueBatcher())
    return _shared[0]
