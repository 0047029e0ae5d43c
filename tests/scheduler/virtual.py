"""A virtual clock for the core's tests: months of scheduling in milliseconds, no sleeps.

``VirtualClock.run(main)`` runs ``main()`` on an event loop whose time is virtual: when the
loop has nothing ready and would sleep until its next timer, the clock jumps there instead.
The scheduler's own reads of ``time.monotonic()`` are pointed at the same clock, and its wall
clock is ``start + monotonic``, so both clocks move together as they do on a quiet machine.
Task functions must be async (a sync one would run in a real thread, in real time).
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
import types
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from autosched.scheduler import runs, scheduler, task, timetable

T = TypeVar("T")


class VirtualClock:
    """Monotonic seconds from 0 and the wall time ``start`` plus them."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.monotonic = 0.0

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic)

    def now(self) -> float:
        return self.monotonic

    def run(self, main: Callable[[], Awaitable[T]], monkeypatch: pytest.MonkeyPatch) -> T:
        """Run ``main()`` to its end in virtual time and return its result."""
        fake_time = types.SimpleNamespace(monotonic=self.now, perf_counter=time.perf_counter)
        for module in (scheduler, timetable, runs, task):
            monkeypatch.setattr(module, "time", fake_time)
        loop = _VirtualLoop(self)
        try:
            return loop.run_until_complete(main())
        finally:
            loop.close()


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Poll instead of blocking; a wait for a timer moves the virtual clock to it."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        ready: list[Any] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("The loop would wait forever: nothing is scheduled.")
        # Strictly forward, as real time goes: a wait of less than the clock's float step
        # would otherwise leave it where it is, and the timer would never come due.
        clock = self._clock
        clock.monotonic = max(clock.monotonic + timeout, math.nextafter(clock.monotonic, math.inf))
        return []


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_JumpingSelector(clock))
        self._virtual = clock
        # The loop runs the timers due before time() + this. At months of virtual seconds,
        # the real monotonic clock's 1 ns is below a float's step and a timer due exactly
        # now would never run.
        self._clock_resolution = 1e-6

    def time(self) -> float:
        return self._virtual.monotonic
