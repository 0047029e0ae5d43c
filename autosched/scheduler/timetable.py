"""The timetable under ``Scheduler``: a heap of due slots and the one timer armed for the first.

Adding, enabling or retiming a task pushes its next slot on the heap; a change made off the
loop's thread re-arms the timer through ``call_soon_threadsafe``. When the timer fires, every
slot that has come is run (or skipped, if the task still runs) and the next one is pushed.
``Scheduler`` holds the public methods and the lifecycle; this base class holds the state
they share with the timer.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from autosched.scheduler.grid import Entry
from autosched.scheduler.logs import event
from autosched.scheduler.runs import RunExecutor, start_task
from autosched.scheduler.task import ScheduledTask

__all__ = ["Timetable"]

logger = logging.getLogger("autosched")


class Timetable:
    """The tasks' slots, the heap of due times and the timer; shared with ``Scheduler``."""

    def __init__(self, runs: RunExecutor, wall_clock: Callable[[], datetime]) -> None:
        self._runs = runs
        self._wall_clock = wall_clock
        self._entries: dict[str, Entry] = {}
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
        self._inflight: dict[asyncio.Task[None], ScheduledTask] = {}
        #: Timer callbacks so far: shows the loop sleeps rather than polls.
        self.wakeups = 0

    def _schedule(self, entry: Entry, now: float, wall_now: datetime | None) -> None:
        """Put ``entry``'s current slot on the heap (``wall_now=None``: next_run is set)."""
        task = entry.task
        if entry.aligned:
            assert wall_now is not None
            due = entry.due_time(now, wall_now.timestamp())
            task.next_run = datetime.fromtimestamp(entry.slot_time(), UTC)
        else:
            due = entry.anchor + entry.slot * task.interval_seconds
            if wall_now is not None:
                task.next_run = wall_now + timedelta(seconds=max(due - now, 0.0))
        entry.gen += 1
        entry.due = due
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
        due: list[tuple[ScheduledTask, float]] = []
        with self._lock:
            self._timer = None
            self.wakeups += 1
            if self._state != "running":
                return
            now = time.monotonic()
            heap = self._heap
            self._firing = True
            wall_now = self._wall_clock()
            try:
                while heap and heap[0][0] <= now:
                    item = heapq.heappop(heap)
                    if self._is_current(item):
                        self._fire(self._entries[item[2]], now, wall_now, due)
            finally:
                # Whatever happened above, the timer is armed again for what remains.
                self._firing = False
                self._arm()
        # Started after the lock is released: an eagerly started run executes task code.
        for task, scheduled in due:
            self._start_run(task, datetime.fromtimestamp(scheduled, UTC))

    def _fire(
        self, entry: Entry, now: float, wall_now: datetime, due: list[tuple[ScheduledTask, float]]
    ) -> None:
        """Run the entry's slot if it has come, and schedule its next one."""
        task = entry.task
        try:
            fired = entry.fire(now, wall_now.timestamp())
            if fired is not None:
                scheduled, missed = fired
                if self._claim(entry, now, wall_now):
                    due.append((task, scheduled))
                if missed:
                    task.skip_count += missed
                    logger.warning(
                        "Task %r missed %d slot(s) (the loop was busy, the machine slept or "
                        "the clock jumped); ran once for them.",
                        task.name,
                        missed,
                        extra=event("missed", task.name),
                    )
            self._schedule(entry, now, wall_now)
        except Exception:
            # One task's failure to schedule must never disarm the timer for the others.
            logger.exception(
                "Cannot schedule task %r; it is left unscheduled.",
                task.name,
                extra=event("schedule_failed", task.name),
            )
            entry.due, task.next_run = None, None
            entry.gen += 1

    def _claim(self, entry: Entry, now: float, wall_now: datetime) -> bool:
        """Mark the entry's task running for this slot, or skip the slot if it still runs."""
        task = entry.task
        if task.running:
            self._runs.skip(task, "Task %r is still running from its last slot; skipped this slot.")
            return False
        entry.last_start = now
        self._runs.begin(task, wall_now)
        return True

    def _start_run(self, task: ScheduledTask, scheduled_at: datetime) -> asyncio.Task[None]:
        assert self._loop is not None
        run = start_task(self._loop, self._runs.execute(task, scheduled_at))
        self._inflight[run] = task
        run.add_done_callback(self._forget)
        return run

    def _forget(self, run: asyncio.Task[None]) -> None:
        self._inflight.pop(run, None)
