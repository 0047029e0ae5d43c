"""When runs happen: one timer over a heap of grid slots, and the scheduler's lifecycle.

How it works, in brief:

* Every enabled task has an *anchor* (a ``time.monotonic()`` reading) and runs at
  ``anchor + k * interval`` for k = 1, 2, ...  Wall-clock changes therefore never move runs.
* Due times sit in one heap; a single ``loop.call_at`` timer is armed for the earliest one.
  Nothing polls: while no run is due the process sleeps, whatever the number of tasks.
* Every run is its own asyncio task. Sync functions go to a thread pool, so a blocking
  function never holds up the loop or another task. A task whose previous run is still going
  when its slot comes is skipped for that slot (no overlap), and the skip is logged.
* The public methods take one lock and may be called from any thread; a change made off the
  loop thread re-arms the timer through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from autosched.scheduler.grid import next_slot
from autosched.scheduler.runs import Gate, RunEvent, RunExecutor, RunListener, start_task
from autosched.scheduler.task import ScheduledTask, utcnow
from autosched.scheduler.validation import (
    DuplicateTaskError,
    TaskNotFoundError,
    TaskTypeError,
    check_interval,
)

__all__ = ["RunEvent", "Scheduler"]

logger = logging.getLogger("autosched")


@dataclass(eq=False, slots=True)
class _Entry:
    """Where a task sits on its grid: slot ``k`` is due at ``anchor + k * interval``."""

    task: ScheduledTask
    anchor: float = 0.0
    slot: int = 1
    due: float | None = None
    gen: int = 0  # bumped on every reschedule; heap items of an older gen are stale
    last_start: float | None = None


class Scheduler:
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
        if not grace_period >= 0:
            raise ValueError(f"grace_period must be 0 or more seconds, got {grace_period!r}.")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}.")
        self.grace_period = float(grace_period)
        self.max_workers = max_workers
        self.tasks: dict[str, ScheduledTask] = {}
        self.wakeups = 0  # timer callbacks so far: shows the loop sleeps rather than polls
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []  # (due, tiebreak, name, gen)
        self._tiebreak = itertools.count()
        self._lock = threading.RLock()
        self._state: Literal["stopped", "running", "stopping"] = "stopped"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._loop_offset = 0.0  # loop.time() - time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._arm_pending = False
        self._firing = False  # inside _on_timer: re-arm once at the end, not per task
        self._stop_event: asyncio.Event | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._runs = RunExecutor(max_workers, gate)

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
    ) -> None:
        """Add a task whose first run comes one interval from now."""
        task = ScheduledTask(name, func, interval_seconds, enabled=bool(enabled))
        with self._lock:
            if name in self.tasks:
                raise DuplicateTaskError(f"A task named {name!r} already exists.")
            entry = _Entry(task)
            self.tasks[name] = task
            self._entries[name] = entry
            if task.enabled:
                # ScheduledTask already set next_run to one interval from now.
                entry.anchor = time.monotonic()
                self._schedule(entry, entry.anchor, wall_now=None)

    def remove_task(self, name: str) -> None:
        """Remove a task; a run in progress finishes but the task is not run again."""
        with self._lock:
            entry = self._entry(name)
            entry.gen += 1
            del self._entries[name]
            del self.tasks[name]

    def enable_task(self, name: str) -> None:
        """Enable a task; its next run comes one interval from now (no-op if enabled)."""
        with self._lock:
            entry = self._entry(name)
            if not entry.task.enabled:
                entry.task.enabled = True
                self._anchor(entry, time.monotonic(), first_slot=1)

    def disable_task(self, name: str) -> None:
        """Disable a task; a run in progress finishes but no new run starts."""
        with self._lock:
            entry = self._entry(name)
            entry.task.enabled = False
            entry.task.next_run = None
            entry.due = None
            entry.gen += 1

    def update_task_interval(self, name: str, interval_seconds: int | float) -> None:
        """Change a task's interval; its next run is its last run plus the new interval."""
        with self._lock:
            entry = self._entry(name)
            entry.task.interval_seconds = check_interval(name, interval_seconds)
            if not entry.task.enabled:
                return
            now = time.monotonic()
            if entry.last_start is None:
                self._anchor(entry, now, first_slot=1)
            elif entry.last_start + entry.task.interval_seconds > now:
                self._anchor(entry, entry.last_start, first_slot=1)
            else:
                # Already overdue under the new interval: run once now, then on a new grid.
                self._anchor(entry, now, first_slot=0)

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise TaskNotFoundError(f"No task named {name!r}.") from None

    def _anchor(self, entry: _Entry, anchor: float, *, first_slot: int) -> None:
        entry.anchor = anchor
        entry.slot = first_slot
        self._schedule(entry, time.monotonic(), self._wall_clock())

    def _schedule(self, entry: _Entry, now: float, wall_now: datetime | None) -> None:
        """Put ``entry``'s current slot on the heap (``wall_now=None``: next_run is set)."""
        task = entry.task
        entry.gen += 1
        entry.due = due = entry.anchor + entry.slot * task.interval_seconds
        if wall_now is not None:
            task.next_run = wall_now + timedelta(seconds=max(due - now, 0.0))
        heapq.heappush(self._heap, (due, next(self._tiebreak), task.name, entry.gen))
        if len(self._heap) > 2 * len(self._entries) + 1024:
            self._compact()
        if self._state != "running" or self._firing:
            return
        # The common case, e.g. adding many tasks: the timer already fires before this slot
        # and re-arms itself from the heap then. Safe from any thread: we hold the lock, and
        # so does _on_timer while it clears the timer.
        if self._timer is not None and self._timer_due <= due:
            return
        self._request_arm()

    def _compact(self) -> None:
        self._heap = [
            (e.due, next(self._tiebreak), name, e.gen)
            for name, e in self._entries.items()
            if e.due is not None
        ]
        heapq.heapify(self._heap)

    # -- the timer (loop thread) ---------------------------------------------------------

    def _request_arm(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._arm()
        elif not self._arm_pending and self._loop is not None:
            self._arm_pending = True
            try:
                self._loop.call_soon_threadsafe(self._arm)
            except RuntimeError:  # the loop closed under us; start() rebuilds everything
                self._arm_pending = False

    def _arm(self) -> None:
        """Point the one timer at the earliest valid due time."""
        with self._lock:
            self._arm_pending = False
            heap = self._heap
            while heap and not self._is_current(heap[0]):
                heapq.heappop(heap)
            if not heap or self._state != "running" or self._loop is None:
                return
            due = heap[0][0]
            if self._timer is not None:
                if self._timer_due <= due:
                    return
                self._timer.cancel()
            self._timer_due = due
            self._timer = self._loop.call_at(due + self._loop_offset, self._on_timer)

    def _is_current(self, item: tuple[float, int, str, int]) -> bool:
        entry = self._entries.get(item[2])
        return entry is not None and entry.gen == item[3]

    def _on_timer(self) -> None:
        due: list[ScheduledTask] = []
        with self._lock:
            self._timer = None
            self.wakeups += 1
            if self._state != "running":
                return
            now = time.monotonic()
            heap = self._heap
            self._firing = True
            wall_now = self._wall_clock()
            while heap and heap[0][0] <= now:
                item = heapq.heappop(heap)
                if not self._is_current(item):
                    continue
                entry = self._entries[item[2]]
                if self._claim(entry, now, wall_now):
                    due.append(entry.task)
                entry.slot, missed = next_slot(
                    entry.anchor, entry.task.interval_seconds, entry.slot, now
                )
                if missed:
                    entry.task.skip_count += missed
                    logger.warning(
                        "Task %r missed %d slot(s) while the loop was busy; ran once for them.",
                        entry.task.name,
                        missed,
                    )
                self._schedule(entry, now, wall_now)
            self._firing = False
            self._arm()
        # Started after the lock is released: an eagerly started run executes task code.
        for task in due:
            self._start_run(task)

    def _claim(self, entry: _Entry, now: float, wall_now: datetime) -> bool:
        """Mark the entry's task running for this slot, or skip the slot if it still runs."""
        task = entry.task
        if task.running:
            self._runs.skip(task, "Task %r is still running from its last slot; skipped this slot.")
            return False
        entry.last_start = now
        self._runs.begin(task, wall_now)
        return True

    def _start_run(self, task: ScheduledTask) -> asyncio.Task[None]:
        assert self._loop is not None
        run = start_task(self._loop, self._runs.execute(task))
        self._inflight.add(run)
        run.add_done_callback(self._inflight.discard)
        return run

    # -- running a task ------------------------------------------------------------------

    def add_listener(self, listener: RunListener) -> None:
        """Call ``listener(event)`` on the loop thread when a run starts, ends or is skipped."""
        self._runs.listeners = [*self._runs.listeners, listener]

    def remove_listener(self, listener: RunListener) -> None:
        """Stop calling ``listener``."""
        self._runs.listeners = [known for known in self._runs.listeners if known is not listener]

    def run_now(self, name: str) -> bool:
        """Start one run of task ``name`` now; return False if it is still running (skipped).

        The run is tracked like a scheduled one: it never overlaps another run of the task,
        and ``start()`` waits for it (or cancels it) when the scheduler stops. It leaves the
        task's grid alone. Call it from the loop's thread while the scheduler is running.
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
            entry.last_start = time.monotonic()
            self._runs.begin(task, self._wall_clock())
        self._start_run(task)
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
            self._runs.begin(task, self._wall_clock())
            tracked = self._state == "running" and self._loop_thread == threading.get_ident()
        if not tracked:
            await self._runs.execute(task)
            return
        # On a running scheduler the run joins the in-flight set, so that stopping waits for
        # it like any other; shielded, so that cancelling the caller does not cancel the run.
        await asyncio.shield(self._start_run(task))

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Run due tasks until ``stop()``; return at once if already running."""
        if self._state != "stopped":
            return
        loop = asyncio.get_running_loop()
        stop_event = asyncio.Event()
        with self._lock:
            self._reanchor_overdue()
            self._state = "running"
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._loop_offset = loop.time() - time.monotonic()
            self._stop_event = stop_event
            self._arm()
        logger.info("Scheduler started with %d task(s).", len(self.tasks))
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
                logger.info("Scheduler stopped.")

    def _reanchor_overdue(self) -> None:
        # Slots that fell while the scheduler was not running are not made up for: such a task
        # starts a fresh cycle, its first run one interval after start().
        now, wall_now = time.monotonic(), self._wall_clock()
        for entry in self._entries.values():
            if entry.task.enabled and (entry.due is None or entry.due <= now):
                entry.anchor, entry.slot = now, 1
        self._heap = []
        for entry in self._entries.values():
            if entry.task.enabled:
                self._schedule(entry, now, wall_now)

    async def _drain(self) -> None:
        if not self._inflight:
            return
        logger.info(
            "Waiting up to %.1f s for %d running task(s) to finish.",
            self.grace_period,
            len(self._inflight),
        )
        _, pending = await asyncio.wait(set(self._inflight), timeout=self.grace_period)
        if not pending:
            return
        logger.warning(
            "Cancelling %d task run(s) still going after the %.1f s grace period "
            "(a sync function keeps running in its thread until it returns).",
            len(pending),
            self.grace_period,
        )
        for run in pending:
            run.cancel()
        await asyncio.wait(pending)

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
    def _status(entry: _Entry, now: float, wall_now: datetime) -> dict[str, Any]:
        until = None
        if entry.task.enabled and entry.due is not None:
            until = round(max(entry.due - now, 0.0), 3)
        return entry.task.status(until, wall_now)

    def get_all_tasks_status(self) -> dict[str, dict[str, Any]]:
        """Return the status dict of every task, by name."""
        with self._lock:
            now, wall_now = time.monotonic(), self._wall_clock()
            entries = list(self._entries.items())
        # Built outside the lock: at 100,000 tasks this takes a good fraction of a second,
        # which must not hold up the timer or a thread changing tasks. Each task's fields are
        # read as they are at that moment.
        return {name: self._status(e, now, wall_now) for name, e in entries}
