"""``next_slots`` against an independent oracle: every day of 2026-2027, in 18 zones.

The oracle resolves each wall time its own way. ``next_slots`` reads a local wall time with
``datetime(..., fold=0, tzinfo=zone)``, which asks zoneinfo for the offset *of a local
time* (its table of transitions in wall time, and the fold). The oracle never does: it only
converts UTC instants to local wall times (``datetime.fromtimestamp(t, zone)``, zoneinfo's
table of transitions in UTC), and searches them:

* the wall time W of date D exists if some instant t = W - o, for an offset o the zone uses,
  shows W on the local clock; its first occurrence is the smallest such t;
* otherwise W falls in a gap: the oracle bisects for the first instant whose local clock
  reads past W, takes the offset in force one second before it, and gives W minus that
  offset, which is W moved forward by the gap.

Both read the same tz database (the pinned ``tzdata``), which is the ground truth; the
resolution rule is what is compared.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from autosched.scheduler import next_slots

pytestmark = pytest.mark.usefixtures("tzdata_zones")

DAY = 86_400
EPOCH = datetime(1970, 1, 1)
ZONES = [
    "Europe/Berlin",
    "Australia/Lord_Howe",  # half-hour DST
    "America/Santiago",  # transitions at midnight
    "Pacific/Apia",  # no DST since 2021, the skipped day of 2011 is before the range
    "Europe/Dublin",  # negative DST in the tz database
    "America/New_York",
    "Asia/Kolkata",  # +05:30, no DST
    "America/Sao_Paulo",  # no DST since 2019
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Tehran",  # +03:30, no DST since 2022
    "America/St_Johns",  # -03:30 / -02:30
    "Africa/Casablanca",  # +01, and +00 during Ramadan
    "Europe/London",
    "UTC",
    "Australia/Sydney",  # southern hemisphere
    "America/Havana",  # transitions at midnight, like Santiago
    "Antarctica/Troll",  # a two-hour DST: +00 / +02
    "Asia/Gaza",  # rules tied to Ramadan and weekdays
]
#: Wall times, in seconds after local midnight.
WALL_TIMES = [0, 1800, 3600, 5400, 7200, 9000, 10800, 43200, 84600, 86399]
INTERVAL_DAYS = [1, 2, 7]
FIRST, LAST = date(2026, 1, 1), date(2027, 12, 31)


def local_seconds(t: int, zone: ZoneInfo) -> int:
    """Return what the local clock reads at the UTC instant ``t``, in seconds since 1970."""
    wall = datetime.fromtimestamp(t, zone).replace(tzinfo=None)  # UTC -> local only
    return round((wall - EPOCH).total_seconds())


def offsets_in_use(zone: ZoneInfo) -> list[int]:
    """Return every offset the zone uses around the range, sampled hourly in UTC."""
    start = round(datetime(2025, 12, 25, tzinfo=UTC).timestamp())
    end = round(datetime(2028, 1, 7, tzinfo=UTC).timestamp())
    return sorted({local_seconds(t, zone) - t for t in range(start, end, 3600)})


def oracle_instant(wall: int, zone: ZoneInfo, offsets: list[int]) -> int:
    """Return the instant of the local wall time ``wall`` (seconds since 1970, local)."""
    shown = [wall - o for o in offsets if local_seconds(wall - o, zone) == wall]
    if shown:
        return min(shown)  # the first occurrence
    low, high = wall - offsets[-1], wall - offsets[0]  # the clock reads W-ish in between
    assert local_seconds(low, zone) < wall < local_seconds(high, zone)
    while high - low > 1:
        middle = (low + high) // 2
        if local_seconds(middle, zone) > wall:
            high = middle
        else:
            low = middle
    # ``high`` is the first second past the gap: read W with the offset in force before it.
    return wall - (local_seconds(high - 1, zone) - (high - 1))


def test_next_slots_matches_the_oracle_every_day_of_2026_and_2027() -> None:
    cases = 0
    first_day, last_day = (FIRST - EPOCH.date()).days, (LAST - EPOCH.date()).days
    for name in ZONES:
        zone = ZoneInfo(name)
        offsets = offsets_in_use(zone)
        for seconds in WALL_TIMES:
            # Date number -> the instant of its wall time; from a week before the range, for
            # the grid date before each grid's first.
            instant = {
                day: oracle_instant(day * DAY + seconds, zone, offsets)
                for day in range(first_day - 7, last_day + 1)
            }
            for days in INTERVAL_DAYS:
                for residue in range(days):
                    first = first_day + (residue - first_day) % days
                    grid = range(first, last_day + 1, days)
                    expected: list[int] = []
                    for day in grid:
                        t = instant[day]
                        assert not expected or t >= expected[-1], (name, day)
                        if not expected or t > expected[-1]:
                            expected.append(t)
                    after = datetime.fromtimestamp(instant[first - days], UTC)
                    got = next_slots(
                        days * DAY,
                        residue * DAY + seconds,
                        after,
                        timezone=name,
                        count=len(expected),
                    )
                    want = [datetime.fromtimestamp(t, UTC) for t in expected]
                    assert got == want, (name, days, residue, seconds)
                    cases += len(grid)
    print(f"\nnext_slots == oracle in {cases} cases")
    # Every one of the 730 dates, once per interval, for every zone and wall time.
    assert (LAST - FIRST).days + 1 == 730
    assert cases == len(ZONES) * len(WALL_TIMES) * len(INTERVAL_DAYS) * 730


def test_the_oracle_finds_gaps_and_folds() -> None:
    # The oracle itself, on the Berlin rows worked out by hand in test_slots.py.
    berlin = ZoneInfo("Europe/Berlin")
    offsets = offsets_in_use(berlin)
    assert offsets == [3600, 7200]

    def at(local: str) -> datetime:
        wall = round((datetime.fromisoformat(local) - EPOCH).total_seconds())
        return datetime.fromtimestamp(oracle_instant(wall, berlin, offsets), UTC)

    assert at("2026-03-29 02:30") == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert at("2026-10-25 02:30") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert at("2026-10-26 02:30") == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    # The last second before the gap and its first wall time (which does not exist) are one
    # second apart.
    assert at("2026-03-29 02:00") - at("2026-03-29 01:59:59") == timedelta(seconds=1)
