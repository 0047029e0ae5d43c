"""The scheduler: its public methods and its lifecycle (``timetable.py`` holds the timer).

How it works, in brief:

* Every enabled task has a slot on its grid (``grid.py``): one interval after it was added,
  on the monotonic clock, or, for a task with an offset, the next instant of its UTC grid.
* Due times sit in one heap; a single ``loop.call_at`` timer is armed for the earliest one.
  Nothing polls: while no run is due the process sleeps, whatever the number of tasks.
* Every run is its own asyncio task (``runs.py``). Sync functions go to a thread pool, so a
  blocking function never holds up the loop or another task. A task whose previous run is
  still going when its slot comes is skipped for that slot (no overlap), and the skip is logged.
* The public methods take one lock and may be called from any thread; a change made off the
  loop thread re-arms the timer through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from autosched.scheduler.grid import Entry
from autosched.scheduler.logs import event
from autosched.scheduler.runs import Gate, RunEvent, RunExecutor, RunListener, RunObserver
from autosched.scheduler.stopping import CANCEL_WAIT, drain
from autosched.scheduler.task import ScheduledTask, returns_coroutine, utcnow
from autosched.scheduler.timetable import Timetable
from autosched.scheduler.validation import (
    DuplicateTaskError,
    TaskNotFoundError,
    TaskTypeError,
    check_func,
    check_interval,
    check_offset,
    check_timeout,
    check_timezone,
)

__all__ = ["CANCEL_WAIT", "RunEvent", "Scheduler"]

logger = logging.getLogger("autosched")

_KEEP: Any = object()  # "leave this as it is" for the update methods


class Scheduler(Timetable):
    """Run registered callables at fixed intervals on the running asyncio loop."""

    def __init__(
        self,
        *,
        grace_period: float = 10.0,
        max_workers: int = 32,
        wall_clock: Callable[[], datetime] = utcnow,
        gate: Gate | None = None,
    ) -> None:
        """Make a stopped scheduler; ``gate()``, if given, is asked right before each call.

        A run whose gate says False when its function is about to be called (in the thread
        that calls it) is not made: it ends as "cancelled", with a warning. ``runscheduler``
        passes "does this process still hold the lease".
        """
        if isinstance(grace_period, bool) or not isinstance(grace_period, int | float):
            raise TaskTypeError(f"grace_period must be a number of seconds, got {grace_period!r}.")
        if not 0 <= grace_period < math.inf:
            raise ValueError(f"grace_period must be 0 or more seconds, got {grace_period!r}.")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}.")
        self.grace_period = float(grace_period)
        self.max_workers = max_workers
        self.tasks: dict[str, ScheduledTask] = {}
        #: Names of the tasks whose runs the last stop gave up waiting for, after the grace
        #: period: sync runs still in their threads, async ones that ignored cancellation.
        self.abandoned: list[str] = []
        super().__init__(RunExecutor(max_workers, gate), wall_clock)
        self._stop_event: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<Scheduler {self._state} tasks={len(self.tasks)}>"

    @property
    def lock(self) -> threading.RLock:
        """Return the lock every public method takes: hold it to make several changes at once."""
        return self._lock

    # -- changing tasks (any thread) -------------------------------------------------------

    def add_task(
        self,
        name: str,
        func: Callable[[], Any],
        interval_seconds: int | float,
        enabled: bool = True,
        *,
        offset: int | float | None = None,
        timeout: int | float | None = None,
        timezone: str | None = None,
    ) -> None:
        """Add a task: first run one interval from now, or at the next slot of its offset.

        With ``offset`` (``0 <= offset < interval``) the task's slots are the UTC instants
        ``offset + k * interval_seconds`` since the epoch. With ``timezone`` too (an IANA
        name; the interval whole days) they are the local wall time ``offset % 86400`` of every
        n-th date there (SPEC §5, ``next_slots``). ``timeout`` bounds each run.
        """
        task = ScheduledTask(
            name,
            func,
            interval_seconds,
            enabled=bool(enabled),
            offset_seconds=offset,
            timeout_seconds=timeout,
            timezone=timezone,
        )
        with self._lock:
            if name in self.tasks:
                raise DuplicateTaskError(f"A task named {name!r} already exists.")
            entry = Entry(task)
            self.tasks[name] = task
            self._entries[name] = entry
            if task.enabled:
                now = time.monotonic()
                if entry.aligned:
                    wall_now = self._wall_clock()
                    entry.restart(now, wall_now.timestamp())
                    self._schedule(entry, now, wall_now)
                else:
                    # ScheduledTask already set next_run to one interval from now.
                    entry.anchor = now
                    self._schedule(entry, now, None)

    def remove_task(self, name: str) -> None:
        """Remove a task; a run in progress finishes but the task is not run again."""
        with self._lock:
            entry = self._entry(name)
            entry.gen += 1
            del self._entries[name]
            del self.tasks[name]

    def enable_task(self, name: str) -> None:
        """Enable a task: its next run one interval from now, or at its next aligned slot."""
        with self._lock:
            entry = self._entry(name)
            if not entry.task.enabled:
                entry.task.enabled = True
                now, wall_now = time.monotonic(), self._wall_clock()
                if entry.aligned:
                    entry.retime(now, wall_now.timestamp())
                else:
                    entry.restart(now, wall_now.timestamp())
                self._schedule(entry, now, wall_now)

    def disable_task(self, name: str) -> None:
        """Disable a task; a run in progress finishes but no new run starts."""
        with self._lock:
            entry = self._entry(name)
            entry.task.enabled = False
            entry.task.next_run = None
            entry.due = None
            entry.gen += 1

    def update_task_interval(
        self,
        name: str,
        interval_seconds: int | float,
        *,
        offset: int | float | None = _KEEP,
        timezone: str | None = _KEEP,
    ) -> None:
        """Change a task's interval (and its offset and zone, if given), then move its next run.

        Without an offset the next run is the last run plus the new interval (now plus the
        new interval if it never ran). With one it is the first slot of the new grid at least
        half an interval after the last run started (or after now, if it never ran). A zoned
        task keeps its zone unless ``timezone`` is given: a sub-day interval with a zone is
        refused, and nothing changes.
        """
        with self._lock:
            task = self._entry(name).task
            interval = check_interval(name, interval_seconds)
            offset = task.offset_seconds if offset is _KEEP else offset
            offset = check_offset(name, offset, interval)
            timezone = task.timezone if timezone is _KEEP else timezone
            timezone = check_timezone(name, timezone, interval, offset)
            task.interval_seconds, task.offset_seconds = interval, offset
            task.set_timezone(timezone)
            self._retime(self._entries[name])

    def update_task_offset(self, name: str, offset: int | float | None) -> None:
        """Put a task on the UTC grid of ``offset`` (None: back on the monotonic grid)."""
        self.update_task_interval(name, self._entry(name).task.interval_seconds, offset=offset)

    def update_task_timezone(self, name: str, timezone: str | None) -> None:
        """Put a task's slots on the wall time of its offset in ``timezone`` (None: UTC)."""
        self.update_task_interval(name, self._entry(name).task.interval_seconds, timezone=timezone)

    def update_task_func(self, name: str, func: Callable[[], Any]) -> None:
        """Call ``func`` from the task's next run on; a run in progress finishes as it began."""
        with self._lock:
            task = self._entry(name).task
            check_func(name, func)
            task.func, task.is_async = func, returns_coroutine(func)

    def update_task_timeout(self, name: str, timeout: int | float | None) -> None:
        """Change how long a run of the task may take, from its next run on."""
        with self._lock:
            self._entry(name).task.timeout_seconds = check_timeout(name, timeout)

    def _entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise TaskNotFoundError(f"No task named {name!r}.") from None

    def _retime(self, entry: Entry) -> None:
        if entry.task.enabled:
            now, wall_now = time.monotonic(), self._wall_clock()
            entry.retime(now, wall_now.timestamp())
            self._schedule(entry, now, wall_now)

    # -- running a task ------------------------------------------------------------------

    def add_listener(self, listener: RunListener) -> None:
        """Call ``listener(event)`` on the loop thread when a run starts, ends or is skipped."""
        self._runs.listeners = [*self._runs.listeners, listener]

    def remove_listener(self, listener: RunListener) -> None:
        """Stop calling ``listener``."""
        self._runs.listeners = [known for known in self._runs.listeners if known is not listener]

    def add_observer(self, observer: RunObserver) -> None:
        """Call ``observer(task, outcome, duration, slot)`` on the loop thread as each run ends.

        Cheaper than a listener (no event is built): for metrics. ``slot`` is the run's slot,
        or for ``run_now`` the time asked for (its start when not given); the run's start is
        ``task.last_run``.
        """
        self._runs.observers = (*self._runs.observers, observer)

    def remove_observer(self, observer: RunObserver) -> None:
        """Stop calling ``observer``."""
        self._runs.observers = tuple(o for o in self._runs.observers if o is not observer)

    def run_now(self, name: str, *, scheduled_at: datetime | None = None) -> bool:
        """Start one run of task ``name`` now; return False if it is still running (skipped).

        The run is tracked like a scheduled one: it never overlaps another run of the task,
        and ``start()`` waits for it (or cancels it) when the scheduler stops. It leaves the
        task's grid alone. ``scheduled_at`` (default: now) is what the run sees as its slot.
        Call it from the loop's thread while the scheduler is running.
        """
        with self._lock:
            entry = self._entry(name)
            if self._state != "running" or self._loop is None:
                raise RuntimeError(f"Cannot run task {name!r} now: the scheduler is not running.")
            if threading.get_ident() != self._loop_thread:
                raise RuntimeError("run_now() must be called from the scheduler's loop thread.")
            task = entry.task
            if task.running:
                self._runs.skip(task, "Task %r is already running; not started again.")
                return False
            wall_now = self._wall_clock()
            entry.last_start = time.monotonic()
            self._runs.begin(task, wall_now)
        self._start_run(task, scheduled_at or wall_now)
        return True

    async def run_task(self, task: ScheduledTask) -> None:
        """Run ``task`` once now, logging any error; skip it if it is already running."""
        if task.running:
            self._runs.skip(task, "Task %r is already running; not started again.")
            return
        with self._lock:
            entry = self._entries.get(task.name)
            if entry is not None and entry.task is task:
                entry.last_start = time.monotonic()
            wall_now = self._wall_clock()
            self._runs.begin(task, wall_now)
            tracked = self._state == "running" and self._loop_thread == threading.get_ident()
        if not tracked:
            await self._runs.execute(task, wall_now)
            return
        # On a running scheduler the run joins the in-flight set, so that stopping waits for
        # it like any other; shielded, so that cancelling the caller does not cancel the run.
        await asyncio.shield(self._start_run(task, wall_now))

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, catch_up: float = 0.0, since: datetime | None = None) -> None:
        """Run due tasks until ``stop()``; return at once if already running.

        Slots that fell while the scheduler was stopped are not made up for, except that a
        task with an offset runs its latest slot if it fell within the last ``catch_up``
        seconds (``runscheduler``'s ``AUTOSCHED_MISSED_SLOT_GRACE``, and its handovers).
        ``since`` (aware) is when the scheduler that ran the tasks before stopped launching
        runs, if known: no slot at or before it runs here, whatever ``catch_up`` says.
        """
        if self._state != "stopped":
            return
        if since is not None and since.utcoffset() is None:
            raise ValueError(f"since must be an aware datetime, got {since!r}.")
        loop = asyncio.get_running_loop()
        stop_event = asyncio.Event()
        with self._lock:
            self._reanchor(catch_up, None if since is None else since.timestamp())
            self._state = "running"
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._loop_offset = loop.time() - time.monotonic()
            self._stop_event = stop_event
            self._arm()
        logger.info(
            "Scheduler started with %d task(s).", len(self.tasks), extra=event("scheduler_started")
        )
        try:
            await stop_event.wait()
        finally:
            with self._lock:
                self._state = "stopping"
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            try:
                await self._drain()
            finally:
                with self._lock:
                    self._runs.shutdown()
                    self._state = "stopped"
                    self._loop = None
                    self._loop_thread = None
                    self._stop_event = None
                logger.info("Scheduler stopped.", extra=event("scheduler_stopped"))

    def _reanchor(self, catch_up: float, since: float | None) -> None:
        # A task without an offset whose due time passed while stopped starts a fresh cycle,
        # its first run one interval after start(); one with an offset waits for its next slot.
        # An aligned task still waiting for the slot that a restart would pick keeps its place
        # on the heap (every scheduled task has its current item there; older ones are stale
        # by their gen): at 100,000 tasks, restarting each would hold the loop for a second.
        now, wall_now = time.monotonic(), self._wall_clock()
        wall = wall_now.timestamp()
        for entry in self._entries.values():
            task = entry.task
            if not task.enabled:
                continue
            if since is not None and entry.aligned:
                entry.ran_until(since)  # the previous scheduler ran (or skipped) those slots
            if entry.aligned and entry.due is not None:
                upcoming, previous = entry.slot_time(), entry.slot_time(entry.slot - 1)
                floor = entry.last_slot_time
                if (
                    previous <= wall < upcoming
                    and (floor is None or upcoming > floor)
                    and not entry.runs_late(entry.slot - 1, wall, catch_up)
                ):
                    continue
            if entry.aligned or entry.due is None or entry.due <= now:
                entry.restart(now, wall, catch_up=catch_up)
            self._schedule(entry, now, wall_now)

    async def _drain(self) -> None:
        self.abandoned = []
        if self._inflight:
            self.abandoned = await drain(dict(self._inflight), self.grace_period, self._runs)

    def stop(self) -> None:
        """Ask the scheduler to stop; safe from any thread or a signal handler."""
        with self._lock:
            if self._state != "running" or self._loop is None or self._stop_event is None:
                return
            self._state = "stopping"
            loop, event = self._loop, self._stop_event
        # call_soon_threadsafe also wakes a loop sleeping in select(), which a signal
        # handler running between two of the loop's bytecodes would otherwise not do.
        with contextlib.suppress(RuntimeError):  # a closed loop has nothing left to stop
            loop.call_soon_threadsafe(event.set)

    def is_running(self) -> bool:
        """Return True between ``start()`` and ``stop()``."""
        return self._state == "running"

    # -- status --------------------------------------------------------------------------

    def get_task_status(self, name: str) -> dict[str, Any] | None:
        """Return the status dict of one task, or None if there is no such task."""
        with self._lock:
            entry = self._entries.get(name) if isinstance(name, str) else None
            if entry is None:
                return None
            return self._status(entry, time.monotonic(), self._wall_clock())

    @staticmethod
    def _status(entry: Entry, now: float, wall_now: datetime) -> dict[str, Any]:
        until = entry.seconds_until(now, wall_now.timestamp())
        exact = entry.task.next_run if entry.aligned and until is not None else None
        return entry.task.status(until, wall_now, now=now, next_run=exact)

    def get_all_tasks_status(self) -> dict[str, dict[str, Any]]:
        """Return the status dict of every task, by name."""
        with self._lock:
            now, wall_now = time.monotonic(), self._wall_clock()
            entries = list(self._entries.items())
        # Built outside the lock: at 100,000 tasks this takes a good fraction of a second,
        # which must not hold up the timer or a thread changing tasks. Each task's fields are
        # read as they are at that moment.
        return {name: self._status(e, now, wall_now) for name, e in entries}
