"""What a task is: its function, its interval and its run state, kept in memory only."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FunctionType, MethodType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from autosched.scheduler.validation import (
    check_func,
    check_interval,
    check_name,
    check_offset,
    check_timeout,
    check_timezone,
    find_zone,
)

Outcome = Literal["ok", "error", "cancelled", "timeout"]


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
    #: None: slots one interval apart from when the task was added (monotonic clock); else
    #: the UTC instants ``offset_seconds + k * interval_seconds`` since the epoch.
    offset_seconds: int | float | None = None
    #: Seconds after which an async run is cancelled and a sync run reported as overrunning.
    timeout_seconds: int | float | None = None
    #: An IANA zone name: the slots are a wall time of every n-th local date there (SPEC §5).
    #: Only with an offset and an interval of whole days; None (or "UTC"): the UTC grid.
    timezone: str | None = None
    #: The zone of ``timezone``, None for UTC; set with it.
    zone: ZoneInfo | None = field(default=None, init=False, repr=False)
    # Run state since the scheduler started; never persisted.
    running: bool = field(default=False, init=False)
    #: The running run has outlived ``timeout_seconds`` (a sync function cannot be stopped).
    overrun: bool = field(default=False, init=False)
    #: ``time.monotonic()`` when the running run started, for ``running_for``.
    run_started: float | None = field(default=None, init=False, repr=False)
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
        self.offset_seconds = check_offset(self.name, self.offset_seconds, self.interval_seconds)
        self.timeout_seconds = check_timeout(self.name, self.timeout_seconds)
        self.set_timezone(
            check_timezone(self.name, self.timezone, self.interval_seconds, self.offset_seconds)
        )
        if self.next_run is None and self.enabled:
            self.next_run = utcnow() + interval_delta(self.interval_seconds)

    def set_timezone(self, timezone: str | None) -> None:
        """Set ``timezone`` (already checked) and the zone it names."""
        self.timezone, self.zone = timezone, find_zone(self.name, timezone)

    def status(
        self,
        seconds_until_next: float | None,
        wall_now: datetime,
        *,
        now: float | None = None,
        next_run: datetime | None = None,
    ) -> dict[str, Any]:
        """Return the status dict, given how far away the next run is (None: not scheduled).

        ``now`` is the monotonic time the status is taken at; ``next_run`` the exact slot,
        when known, rather than ``wall_now + seconds_until_next``.
        """
        if seconds_until_next is None:
            next_run = None
        elif next_run is None:
            next_run = wall_now + timedelta(seconds=seconds_until_next)
        running_for = None
        if self.running and self.run_started is not None:
            running_for = round((time.monotonic() if now is None else now) - self.run_started, 3)
        return {
            "name": self.name,
            "enabled": self.enabled,
            "interval_seconds": self.interval_seconds,
            "last_run": self.last_run.isoformat() if self.last_run is not None else None,
            "next_run": next_run.isoformat() if next_run is not None else None,
            "seconds_until_next": seconds_until_next,
            "offset_seconds": self.offset_seconds,
            "timezone": self.timezone,
            "timeout_seconds": self.timeout_seconds,
            "running": self.running,
            "running_for": max(running_for, 0.0) if running_for is not None else None,
            "overrun": self.overrun,
            "last_outcome": self.last_outcome,
            "last_duration": self.last_duration,
            "last_error": self.last_error,
            "run_count": self.run_count,
            "error_count": self.error_count,
            "skip_count": self.skip_count,
        }
