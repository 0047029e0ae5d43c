"""Where a task's slots fall: the grid arithmetic of the core, for both kinds of task.

* A task without an offset sits on a grid of the monotonic clock: slot ``k`` is due at
  ``anchor + k * interval``, the anchor being when it was added, enabled or started. Wall-clock
  changes never move it.
* A task with an offset sits on a grid of the UTC clock: slot ``k`` is the instant
  ``offset + k * interval`` in seconds since 1970-01-01 UTC, or, for a task with a time zone,
  the wall time of the k-th date of its grid of local dates (``slots.py``, SPEC §5: such
  slots are not evenly spaced, and two neighbours may fall on one instant). Every process
  computes the same slots, so a restart or a takeover moves nothing. The timer still sleeps
  on the monotonic clock; the slot is derived again from the wall clock each time the task
  is rescheduled, and the time of the last slot run never decreases, so a clock step causes
  no burst and no second run of a slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from autosched.scheduler.slots import earliest_next_start, first_slot_after, slot_instant

if TYPE_CHECKING:
    from autosched.scheduler.task import ScheduledTask

__all__ = ["Entry", "first_slot_after", "next_slot"]

#: A sleep longer than this many seconds until an aligned slot ends early, by a share of its
#: length, so that the wall clock is read again close to the slot (the monotonic and the wall
#: clock may drift apart while NTP slews).
EARLY_AFTER = 10.0
EARLY_SHARE = 0.001
#: A timer firing this close before an aligned slot (by the wall clock) runs it.
TOLERANCE = 0.001


def next_slot(anchor: float, interval: float, fired_slot: int, now: float) -> tuple[int, int]:
    """Return the grid slot to run next after ``fired_slot`` and how many slots were missed.

    The next slot is the first one still in the future at ``now``; the slots skipped over (the
    loop was blocked, the machine slept) are coalesced into the run that just happened rather
    than fired in a burst.
    """
    slot = fired_slot + 1
    if anchor + slot * interval > now:
        return slot, 0
    late_by = now - anchor
    target = math.floor(late_by / interval) + 1
    # Guard against float rounding putting ``target`` on a slot that is not in the future.
    while anchor + target * interval <= now:
        target += 1
    return target, target - slot


@dataclass(eq=False, slots=True)
class Entry:
    """A task's place on its grid, and the timer's view of it."""

    task: ScheduledTask
    anchor: float = 0.0  # monotonic; the grid's origin for a task without an offset
    slot: int = 1  # the number of the slot the task waits for
    due: float | None = None  # monotonic time the timer fires for it; None: not scheduled
    gen: int = 0  # bumped on every reschedule; heap items of an older gen are stale
    last_start: float | None = None  # monotonic start of the last run
    last_slot_time: float | None = None  # aligned: epoch time of the last slot run; never decreases
    late: bool = False  # aligned: the current slot fell before the start that runs it late

    @property
    def aligned(self) -> bool:
        """Return whether the task's slots sit on the UTC clock (it has an offset)."""
        return self.task.offset_seconds is not None

    def slot_time(self, slot: int | None = None) -> float:
        """Return the epoch time of an aligned slot (the current one by default)."""
        task = self.task
        return slot_instant(
            task.interval_seconds, self._offset, self.slot if slot is None else slot, task.zone
        )

    def first_after(self, wall: float) -> int:
        """Return the number of the first aligned slot strictly after the epoch time ``wall``."""
        return first_slot_after(wall, self.task.interval_seconds, self._offset, self.task.zone)

    # -- choosing the next slot ------------------------------------------------------------

    def restart(self, now: float, wall: float, *, catch_up: float = 0.0) -> None:
        """Begin a fresh cycle now: the first run one interval on, or the next aligned slot.

        An aligned task whose latest slot fell within the last ``catch_up`` seconds, and after
        the last slot run (see ``ran_until``), runs it at once; a slot that fell earlier, while
        nothing ran the task, is skipped, not run late.
        """
        if not self.aligned:
            self.anchor, self.slot = now, 1
            return
        slot = self.first_after(wall)
        if self.runs_late(slot - 1, wall, catch_up):
            slot -= 1
        self.slot = self._allowed(slot, now, wall)
        self.late = self.slot_time() <= wall

    def ran_until(self, since: float) -> None:
        """Note that every aligned slot at or before the epoch time ``since`` was dealt with.

        Another scheduler ran (or skipped) them before it stopped: none of them runs here.
        """
        if self.last_slot_time is None or self.last_slot_time < since:
            self.last_slot_time = since

    def runs_late(self, slot: int, wall: float, catch_up: float) -> bool:
        """Return whether a start at ``wall`` runs ``slot``, already past, late.

        It does if the slot fell within the last ``catch_up`` seconds and after the last slot
        run, or dealt with by another scheduler (``ran_until``).
        """
        when, floor = self.slot_time(slot), self.last_slot_time
        return when > wall - catch_up and (floor is None or when > floor)

    def retime(self, now: float, wall: float) -> None:
        """Move the next run after a change of interval or offset, or after an enable."""
        interval = self.task.interval_seconds
        if self.aligned:
            self.slot = self._allowed(self.first_after(wall), now, wall)
            self.late = False
        elif self.last_start is None:
            self.anchor, self.slot = now, 1
        elif self.last_start + interval > now:
            self.anchor, self.slot = self.last_start, 1
        else:
            # Already overdue under the new interval: run once now, then on a new grid.
            self.anchor, self.slot = now, 0

    def fire(self, now: float, wall: float) -> tuple[float, int] | None:
        """Take the current slot as due; return (its epoch time, slots missed), or None.

        None means the slot has not come yet by the wall clock (the clock stepped back, or the
        timer woke early on purpose): the caller reschedules without running anything.
        """
        interval = self.task.interval_seconds
        if not self.aligned:
            scheduled = wall - (now - (self.anchor + self.slot * interval))
            self.slot, missed = next_slot(self.anchor, interval, self.slot, now)
            return scheduled, missed
        if wall < self.slot_time() - TOLERANCE:
            return None
        latest = max(self.slot, self.first_after(wall) - 1)
        missed, self.last_slot_time = self._missed(latest), self.slot_time(latest)
        # The next run is at least half an interval after this one (which starts now). A slot
        # run late on a start counts from its own time, so that the next slot still runs.
        started = now - (wall - self.slot_time(latest)) if self.late else now
        self.late = False
        self.slot = self._allowed(latest + 1, now, wall, started=started)
        return self.slot_time(latest), missed

    def due_time(self, now: float, wall: float) -> float:
        """Return the monotonic time at which the timer should fire for the current slot."""
        if not self.aligned:
            return self.anchor + self.slot * self.task.interval_seconds
        until = self.slot_time() - wall
        if until > EARLY_AFTER:
            until -= until * EARLY_SHARE  # wake a little early and read the wall clock again
        return now + max(until, 0.0)

    def seconds_until(self, now: float, wall: float) -> float | None:
        """Return how far off the next run is, or None when the task is not scheduled."""
        if not self.task.enabled or self.due is None:
            return None
        if self.aligned:
            return round(max(self.slot_time() - wall, 0.0), 3)
        return round(max(self.due - now, 0.0), 3)

    @property
    def _offset(self) -> float:
        offset = self.task.offset_seconds
        assert offset is not None
        return offset

    def _allowed(self, slot: int, now: float, wall: float, *, started: float | None = None) -> int:
        """Return the first slot from ``slot`` on that may run: never one already run, and
        never less than half an interval after the last run started."""
        if self.last_slot_time is not None and self.slot_time(slot) <= self.last_slot_time:
            slot = self.first_after(self.last_slot_time)
        last_start = self.last_start if started is None else started
        if last_start is not None:
            interval = self.task.interval_seconds
            earliest = earliest_next_start(last_start, interval)  # monotonic
            due = now + (self.slot_time(slot) - wall)
            if due < earliest and self.task.zone is None:
                slot += math.ceil((earliest - due) / interval)
            elif due < earliest:
                # A zone's slots are not evenly spaced: step to the first one late enough.
                while now + (self.slot_time(slot) - wall) < earliest:
                    slot += 1
        return slot

    def _missed(self, latest: int) -> int:
        """Return how many slots after the current one up to ``latest`` were not run."""
        if self.task.zone is None:
            return latest - self.slot
        # Two dates of a zone's grid may fall on one instant: that is one slot, not two.
        times = [self.slot_time(slot) for slot in range(self.slot, latest + 1)]
        return sum(1 for earlier, later in pairwise(times) if later > earlier)
