"""Where a task's slots fall on the clock: SPEC §5's civil-day rule, the one rule for everyone.

Without a zone (None, "" or "UTC") the slots are the UTC instants ``offset + k * interval``
seconds since 1970-01-01 UTC (SPEC §1), whatever the interval.

With a zone Z, the interval is n whole days and the offset ``d * 86400 + s`` (0 <= d < n,
0 <= s < 86400). The slots are the local wall times "date D at s seconds after midnight" for
every local date D with ``(D - 1970-01-01).days % n == d``, each resolved to an instant like
``datetime(..., fold=0, tzinfo=Z)``:

* a wall time that does not exist (spring forward) is read with the offset in force before the
  transition, which is the wall time moved forward by the gap (02:30 -> 03:30);
* an ambiguous wall time (fall back) is its first occurrence;
* two dates that resolve to one instant give one slot (Pacific/Apia skipped 2011-12-30: its
  10:00 is the instant of 2011-12-31 10:00).

Slot number k is the k-th date of the grid, ``1970-01-01 + d + k * n`` days, so that with
Z = UTC slot k is ``offset + k * interval`` exactly as without a zone. Instants never decrease
with k (no zone's offset ever jumped by more than a day), but they are not evenly spaced and
two neighbours may be equal. Every slot is derived from the anchor 1970-01-01, never from a
previous run.

The offset is always a number here. A row's blank offset means its spread offset, which the
caller resolves first (``autosched.schedule.effective_offset``); a core task added without an
offset sits on the monotonic clock, one interval after it was added, and has no fixed slots.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from autosched.scheduler.validation import (
    DAY,
    TaskTypeError,
    check_interval,
    check_offset,
    check_timezone,
    find_zone,
)

__all__ = [
    "MIN_GAP_SHARE",
    "earliest_next_start",
    "first_slot_after",
    "next_run_after_last",
    "next_slots",
    "slot_instant",
]

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
#: The next run starts at least this share of an interval after the last run started, so that
#: a run late on its slot and an early next slot (a retime, a clock step) are never back to back.
MIN_GAP_SHARE = 0.5


def _zoned(interval: float, offset: float, slot: int, zone: ZoneInfo) -> datetime:
    """Return zoned slot ``slot`` as an aware datetime in ``zone`` (fold=0, SPEC §5)."""
    days, seconds = divmod(offset, DAY)
    ordinal = _EPOCH_ORDINAL + int(days) + slot * (int(interval) // DAY)
    wall = datetime.fromordinal(ordinal) + timedelta(seconds=seconds)
    return wall.replace(tzinfo=zone)  # fold=0: the offset before a gap, the first of a fold


def slot_instant(interval: float, offset: float, slot: int, zone: ZoneInfo | None) -> float:
    """Return the epoch time of slot number ``slot`` of the grid (``zone`` None: UTC)."""
    if zone is None:
        return offset + slot * interval
    return _zoned(interval, offset, slot, zone).timestamp()


def first_slot_after(
    wall: float, interval: float, offset: float, zone: ZoneInfo | None = None
) -> int:
    """Return the number of the first slot strictly after the epoch time ``wall``."""
    if zone is None:
        slot = math.floor((wall - offset) / interval) + 1
        # Guard against float rounding on either side.
        while offset + (slot - 1) * interval > wall:
            slot -= 1
        while offset + slot * interval <= wall:
            slot += 1
        return slot
    # A date's slot is its wall time read as UTC minus an offset of -16 h (old local mean
    # times; a skipped day reads the offset of the day before) to +14 h, so the grid date a
    # day before ``wall`` read as a date falls before it; step on from there, the instants
    # never decreasing.
    days = int(interval) // DAY
    start = (math.floor((wall - offset % DAY) / DAY) - 1 - int(offset // DAY)) // days
    slot = start
    while slot_instant(interval, offset, slot, zone) <= wall:
        slot += 1
    return slot


def check_grid(interval: Any, offset: Any, timezone: Any) -> tuple[float, float, ZoneInfo | None]:
    """Return (interval, offset, zone) if they make a grid of slots, else raise naming them."""
    interval = check_interval(None, interval)
    if offset is None:
        raise TaskTypeError(
            "offset_seconds must be a number of seconds, got None: a row's blank offset is "
            "its spread offset, to be resolved first (autosched.schedule.effective_offset); "
            "a core task without an offset sits on the monotonic clock and has no fixed slots."
        )
    offset = check_offset(None, offset, interval)
    check_timezone(None, timezone, interval, offset)
    return interval, offset, find_zone(None, timezone)


def _check_after(after: Any, what: str) -> datetime:
    if not isinstance(after, datetime) or after.utcoffset() is None:
        raise TaskTypeError(f"{what} must be an aware datetime, got {after!r}.")
    return after


def _slots(
    interval: float, offset: float, zone: ZoneInfo | None, after: datetime, count: int
) -> list[datetime]:
    # One slot early: the float timestamp only picks where to look; the comparisons below
    # are exact.
    slot = first_slot_after(after.timestamp(), interval, offset, zone) - 1
    slots: list[datetime] = []
    while len(slots) < count:
        if zone is None:
            instant = datetime.fromtimestamp(offset + slot * interval, UTC)
        else:
            instant = _zoned(interval, offset, slot, zone).astimezone(UTC)
        if instant > after and (not slots or instant > slots[-1]):
            slots.append(instant)
        slot += 1
    return slots


def next_slots(
    interval_seconds: int | float,
    offset_seconds: int | float,
    after: datetime,
    *,
    timezone: str | None = None,
    count: int = 1,
) -> list[datetime]:
    """Return the next ``count`` slots strictly after ``after``, as aware UTC datetimes."""
    interval, offset, zone = check_grid(interval_seconds, offset_seconds, timezone)
    _check_after(after, "after")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number of 1 or more, got {count!r}.")
    return _slots(interval, offset, zone, after, count)


def earliest_next_start(last_start: float, interval: float) -> float:
    """Return the earliest time the run after one started at ``last_start`` may start."""
    return last_start + interval * MIN_GAP_SHARE


def next_run_after_last(
    interval_seconds: int | float,
    offset_seconds: int | float,
    now: datetime,
    last_run: datetime | None,
    *,
    timezone: str | None = None,
) -> datetime:
    """Return the slot the scheduler runs next: after ``now``, half an interval after ``last_run``.

    This is where the scheduler places a task's next run after it was retimed or enabled (or
    the run that just started at ``last_run``): the first slot strictly after ``now`` that is
    also at least half an interval after the last run started (``last_run`` None: never ran).
    """
    interval, offset, zone = check_grid(interval_seconds, offset_seconds, timezone)
    after = _check_after(now, "now")
    if last_run is not None:
        earliest = datetime.fromtimestamp(
            earliest_next_start(_check_after(last_run, "last_run").timestamp(), interval), UTC
        )
        # "At least": a slot exactly at the earliest start counts (instants are microseconds).
        after = max(after, earliest - timedelta(microseconds=1))
    return _slots(interval, offset, zone, after, 1)[0]
