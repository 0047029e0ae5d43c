"""Properties of ``next_slots`` (Hypothesis): any zone, interval of 1 to 14 days, offset, and
``after`` from 1970 to 2100."""

from __future__ import annotations

import importlib.resources
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from autosched.scheduler import next_slots

pytestmark = pytest.mark.usefixtures("tzdata_zones")

DAY = 86_400
EPOCH = date(1970, 1, 1)
#: Every zone of the pinned tz database (the tzdata package lists them).
ZONES = sorted(importlib.resources.files("tzdata").joinpath("zones").read_text().split())

zones = st.sampled_from(ZONES)
afters = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def grids(draw: st.DrawFn) -> tuple[int, int]:
    """Return (interval, offset): n whole days, and d * 86400 + s with 0 <= d < n."""
    days = draw(st.integers(1, 14))
    return days * DAY, draw(st.integers(0, days * DAY - 1))


def wall_time(day: date, seconds: int) -> datetime:
    """Return the naive local wall time ``seconds`` after midnight of ``day``."""
    return datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)


def exists(wall: datetime, zone: ZoneInfo) -> bool:
    """Return whether the local clock ever reads ``wall`` (a round trip through UTC)."""
    return any(
        wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        == wall
        for fold in (0, 1)
    )


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    local = instant.astimezone(zone).replace(tzinfo=None)
    return local - instant.replace(tzinfo=None)


def grid_date(slot: datetime, zone: ZoneInfo, interval: int, offset: int) -> tuple[date, bool]:
    """Return the grid date whose wall time ``slot`` is, and whether it is exactly that wall
    time (True) or that wall time moved forward by a gap (False); fail if it is neither."""
    days, (grid_day, seconds) = interval // DAY, divmod(offset, DAY)
    local = slot.astimezone(zone).replace(tzinfo=None)
    moved: date | None = None
    for back in range(3):
        day = local.date() - timedelta(days=back)
        if (day - EPOCH).days % days != grid_day:
            continue
        target = wall_time(day, seconds)
        if local == target:
            return day, True
        gap = local - target
        # A wall time that does not exist, read with the offset before the gap: the clock
        # shows it moved on by the gap, the difference of the offsets on either side.
        if (
            timedelta(0) < gap <= timedelta(days=1)
            and not exists(target, zone)
            and offset_at(slot, zone) - offset_at(slot - gap, zone) == gap
            and moved is None
        ):
            moved = day
    assert moved is not None, f"{slot} ({local} local) is no wall time of the grid"
    return moved, False


@settings(max_examples=300, deadline=None)
@given(zones, grids(), afters, st.integers(1, 12))
# Pacific/Apia skipped 2011-12-30; Pacific/Kwajalein skipped 1993-08-21.
@example("Pacific/Apia", (DAY, 36_000), datetime(2011, 12, 27, tzinfo=UTC), 6)
@example("Pacific/Kwajalein", (DAY, 43_200), datetime(1993, 8, 18, tzinfo=UTC), 6)
@example("Europe/Berlin", (DAY, 9_000), datetime(2026, 3, 27, tzinfo=UTC), 4)
@example("Europe/Berlin", (DAY, 9_000), datetime(2026, 10, 23, tzinfo=UTC), 4)
def test_slots_are_the_wall_times_of_consecutive_grid_dates(
    name: str, grid: tuple[int, int], after: datetime, count: int
) -> None:
    interval, offset = grid
    zone = ZoneInfo(name)
    slots = next_slots(interval, offset, after, timezone=name, count=count)

    # The count is honoured; slots ascend strictly, are unique, UTC and after ``after``.
    assert len(slots) == count
    assert all(slot.tzinfo is UTC for slot in slots)
    assert after < slots[0]
    assert all(a < b for a, b in itertools.pairwise(slots))

    # Each slot is its grid date's wall time, or that wall time moved forward by a gap; an
    # ambiguous wall time is its first occurrence.
    dates = []
    for slot in slots:
        day, exact = grid_date(slot, zone, interval, offset)
        if exact:
            target = wall_time(day, offset % DAY)
            second = target.replace(tzinfo=zone, fold=1).astimezone(UTC)
            assert slot <= second  # the first occurrence, when there are two
        dates.append(day)

    # Each grid date has exactly one slot: consecutive slots belong to consecutive grid
    # dates, except that a date resolving to the very instant of the next one (a skipped
    # day) has that slot, and no slot of its own.
    step = timedelta(seconds=interval)
    for (earlier, later), slot in zip(itertools.pairwise(dates), slots[1:], strict=True):
        if later - earlier != step:
            assert later - earlier == 2 * step, (earlier, later)
            skipped = wall_time(earlier + step, offset % DAY).replace(tzinfo=zone)
            assert skipped.astimezone(UTC) == slot
    # ... and the grid date before the first slot's fell at or before ``after``.
    before = wall_time(dates[0] - step, offset % DAY).replace(tzinfo=zone)
    assert before.astimezone(UTC) <= after


@settings(max_examples=200, deadline=None)
@given(zones, grids(), afters, st.integers(1, 8), st.integers(0, 7))
def test_slots_do_not_depend_on_where_the_search_starts(
    name: str, grid: tuple[int, int], after: datetime, count: int, more: int
) -> None:
    interval, offset = grid
    slots = next_slots(interval, offset, after, timezone=name, count=count + more)
    # A shorter list is a prefix, and starting from any slot gives the rest: every slot
    # derives from the anchor, never from the one before.
    assert next_slots(interval, offset, after, timezone=name, count=count) == slots[:count]
    rest = next_slots(interval, offset, slots[count - 1], timezone=name, count=more or 1)
    if more:
        assert rest == slots[count:]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.integers(1, 14).map(lambda days: days * DAY),
        st.integers(1, 10 * DAY),
    ).flatmap(lambda interval: st.tuples(st.just(interval), st.integers(0, interval - 1))),
    afters,
    st.integers(1, 8),
)
def test_utc_is_blank_and_the_epoch_grid(
    grid: tuple[int, int], after: datetime, count: int
) -> None:
    interval, offset = grid
    blank = next_slots(interval, offset, after, count=count)
    assert next_slots(interval, offset, after, timezone="", count=count) == blank
    assert next_slots(interval, offset, after, timezone="UTC", count=count) == blank
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micro = timedelta(microseconds=1)
    first = ((after - epoch) // micro - offset * 10**6) // (interval * 10**6) + 1
    assert blank == [
        epoch + timedelta(seconds=offset + (first + k) * interval) for k in range(count)
    ]
