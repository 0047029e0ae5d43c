"""What a task is and how one run of it happens: threads or the loop, errors, listeners.

Part of the Django-free core; ``autosched.scheduler`` decides *when* to run, this module
decides *how*.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FunctionType, MethodType
from typing import Any, Literal

from autosched.timing import check_func, check_interval, check_name

logger = logging.getLogger("autosched")

Outcome = Literal["ok", "error", "cancelled"]
ERROR_TEXT_LIMIT = 500
#: Names of the threads that run sync task functions start with this.
RUN_THREAD_PREFIX = "autosched-run"


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


@functools.lru_cache(maxsize=256)
def interval_delta(seconds: float) -> timedelta:
    """Return ``seconds`` as a timedelta; cached, as most tasks share a few intervals."""
    return timedelta(seconds=seconds)


def returns_coroutine(func: Callable[..., Any]) -> bool:
    """Return True if calling ``func`` gives a coroutine to await on the loop."""
    try:
        return _returns_coroutine_cached(func)
    except TypeError:  # an unhashable callable object
        return _returns_coroutine(func)


def _returns_coroutine(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):  # also sees through functools.partial
        return True
    if isinstance(func, FunctionType | MethodType):
        return False
    call = getattr(func, "__call__", None)  # noqa: B004 - async __call__ on an instance
    return inspect.iscoroutinefunction(call)


# Adding 100,000 tasks for a handful of functions should not inspect each one every time.
_returns_coroutine_cached = functools.lru_cache(maxsize=1024)(_returns_coroutine)


if sys.version_info >= (3, 12):

    def start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Start ``coro`` as a task; eagerly where Python supports it."""
        # Eager start runs the task up to its first await right away (an async function's
        # body, a sync function's hand-off to its thread) instead of one loop turn later.
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:  # pragma: no cover - Python 3.11

    def start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Start ``coro`` as a task."""
        return loop.create_task(coro)


@dataclass(eq=False)
class ScheduledTask:
    """One function to call every ``interval_seconds``, with its in-memory run state."""

    name: str
    func: Callable[[], Any]
    interval_seconds: int | float
    last_run: datetime | None = None
    next_run: datetime | None = None
    enabled: bool = True
    # Run state since the scheduler started; never persisted.
    running: bool = field(default=False, init=False)
    run_count: int = field(default=0, init=False)
    error_count: int = field(default=0, init=False)
    skip_count: int = field(default=0, init=False)
    last_outcome: Outcome | None = field(default=None, init=False)
    last_duration: float | None = field(default=None, init=False)
    last_error: str | None = field(default=None, init=False)
    #: Whether ``func`` is awaited on the loop (else it runs in a worker thread).
    is_async: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        check_func(self.name, self.func)
        self.is_async = returns_coroutine(self.func)
        self.interval_seconds = check_interval(self.name, self.interval_seconds)
        if self.next_run is None and self.enabled:
            self.next_run = utcnow() + interval_delta(self.interval_seconds)

    def status(self, seconds_until_next: float | None, wall_now: datetime) -> dict[str, Any]:
        """Return the status dict, given how far away the next run is (None: not scheduled)."""
        next_run = None
        if seconds_until_next is not None:
            next_run = (wall_now + timedelta(seconds=seconds_until_next)).isoformat()
        return {
            "name": self.name,
            "enabled": self.enabled,
            "interval_seconds": self.interval_seconds,
            "last_run": self.last_run.isoformat() if self.last_run is not None else None,
            "next_run": next_run,
            "seconds_until_next": seconds_until_next,
            "running": self.running,
            "last_outcome": self.last_outcome,
            "last_duration": self.last_duration,
            "last_error": self.last_error,
            "run_count": self.run_count,
            "error_count": self.error_count,
            "skip_count": self.skip_count,
        }


@dataclass(frozen=True, slots=True)
class RunEvent:
    """What a listener hears: a run ``started``, ``finished`` or was ``skipped`` (overlap)."""

    kind: Literal["started", "finished", "skipped"]
    task: ScheduledTask
    outcome: Outcome | None = None  # set when finished
    duration: float | None = None  # seconds, set when finished
    error: BaseException | None = None  # the exception of a failed run


RunListener = Callable[[RunEvent], None]


class RunExecutor:
    """Run tasks: sync functions in a thread pool, async ones on the loop; never raise."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.listeners: list[RunListener] = []
        self._pool: ThreadPoolExecutor | None = None

    def notify(self, event: RunEvent) -> None:
        """Tell every listener about ``event``; a failing listener is logged, not raised."""
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break runs
                logger.exception("Run listener %r failed on %s.", listener, event.kind)

    def skip(self, task: ScheduledTask, message: str) -> None:
        """Count and log a run not started because the previous one is still going."""
        task.skip_count += 1
        logger.warning(message, task.name)
        if self.listeners:
            self.notify(RunEvent("skipped", task))

    def begin(self, task: ScheduledTask, wall_now: datetime) -> None:
        """Mark ``task`` running from now; call before ``execute`` so no slot can overlap."""
        task.running = True
        task.last_run = wall_now
        if self.listeners:
            self.notify(RunEvent("started", task))

    async def execute(self, task: ScheduledTask) -> None:
        """Run ``task`` once, recording outcome and duration; re-raise only our cancellation."""
        started = time.perf_counter()
        outcome: Outcome = "error"
        error: BaseException | None = None
        try:
            await self._call(task)
            outcome = "ok"
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                outcome = "cancelled"
                raise
            error = asyncio.CancelledError()
            self._record_error(task, started, "cancelled itself")
        except BaseException as exc:  # a task must never take the loop down, whatever it raises
            error = exc
            self._record_error(task, started, f"{type(exc).__name__}: {exc}")
        finally:
            duration = time.perf_counter() - started
            task.running = False
            task.run_count += 1
            task.last_duration = duration
            task.last_outcome = outcome
            if outcome == "ok":
                task.last_error = None
                logger.info("Task %r succeeded in %.3f s.", task.name, duration)
            elif outcome == "cancelled":
                logger.warning("Task %r was cancelled after %.3f s.", task.name, duration)
            if self.listeners:
                self.notify(RunEvent("finished", task, outcome, duration, error))

    async def _call(self, task: ScheduledTask) -> None:
        if task.is_async:
            await task.func()
            return
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._get_pool(), task.func)
        if inspect.isawaitable(result):  # a sync callable that returned a coroutine
            await result

    @staticmethod
    def _record_error(task: ScheduledTask, started: float, text: str) -> None:
        task.error_count += 1
        task.last_error = text[:ERROR_TEXT_LIMIT]
        logger.exception("Task %r failed after %.3f s.", task.name, time.perf_counter() - started)

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=RUN_THREAD_PREFIX)
        return self._pool

    def shutdown(self) -> None:
        """Let the pool's threads go; a sync run still going finishes in its thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
