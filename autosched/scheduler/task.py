"""What a task is: its function, its interval and its run state, kept in memory only."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FunctionType, MethodType
from typing import Any, Literal

from autosched.scheduler.validation import check_func, check_interval, check_name

Outcome = Literal["ok", "error", "cancelled"]


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
