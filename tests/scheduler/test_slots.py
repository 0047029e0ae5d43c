"""``next_slots``: SPEC §5's civil-day rule, checked against instants written out by hand.

Each table row's expected UTC instants come from the zone's published rules (the tz database
release pinned in the test extra), worked out by hand in the comments, not from the code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import autosched
import autosched.scheduler
from autosched.scheduler import TimezoneError, next_run_after_last, next_slots

pytestmark = pytest.mark.usefixtures("tzdata_zones")

DAY = 86_400
H = 3_600


def utc(text: str) -> datetime:
    """Return the aware UTC datetime of ``YYYY-MM-DD HH:MM`` (or with seconds)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (zone, interval, offset, after, expected slots in UTC): every row crosses a transition.
TABLE = [
    # Europe/Berlin, daily 02:30. 2026-03-29 01:00Z: 02:00 CET (+1) -> 03:00 CEST (+2); the
    # 02:30 of that day does not exist, read at +1 it is 01:30Z = 03:30 CEST (moved by the gap).
    pytest.param(
        "Europe/Berlin",
        DAY,
        2 * H + 1800,
        "2026-03-27 12:00",
        ["2026-03-28 01:30", "2026-03-29 01:30", "2026-03-30 00:30"],
        id="berlin-gap",
    ),
    # 2026-10-25 01:00Z: 03:00 CEST -> 02:00 CET; 02:30 happens twice, the first (CEST) wins.
    pytest.param(
        "Europe/Berlin",
        DAY,
        2 * H + 1800,
        "2026-10-23 12:00",
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"],
        id="berlin-fold",
    ),
    # Australia/Lord_Howe: +11 in summer, +10:30 in winter (a half-hour DST). 2026-04-05 02:00
    # +11 (15:00Z on the 4th) -> 01:30 +10:30: 01:45 happens twice, the first is at +11.
    pytest.param(
        "Australia/Lord_Howe",
        DAY,
        H + 2700,
        "2026-04-03 00:00",
        ["2026-04-03 14:45", "2026-04-04 14:45", "2026-04-05 15:15"],
        id="lord-howe-fold",
    ),
    # 2026-10-04 02:00 +10:30 (15:30Z on the 3rd) -> 02:30 +11: 02:15 does not exist, read at
    # +10:30 it is 15:45Z = 02:45 +11.
    pytest.param(
        "Australia/Lord_Howe",
        DAY,
        2 * H + 900,
        "2026-10-02 00:00",
        ["2026-10-02 15:45", "2026-10-03 15:45", "2026-10-04 15:15"],
        id="lord-howe-gap",
    ),
    # America/Santiago: 2026-04-05 03:00Z, 00:00 -03 -> 23:00 -04 on the 4th. Midnight of the
    # 5th happens once (at -04); 00:30 too.
    pytest.param(
        "America/Santiago",
        DAY,
        0,
        "2026-04-03 12:00",
        ["2026-04-04 03:00", "2026-04-05 04:00", "2026-04-06 04:00"],
        id="santiago-back-0000",
    ),
    pytest.param(
        "America/Santiago",
        DAY,
        1800,
        "2026-04-03 12:00",
        ["2026-04-04 03:30", "2026-04-05 04:30", "2026-04-06 04:30"],
        id="santiago-back-0030",
    ),
    # ... and 23:30 of the 4th happens twice: the first, at -03, is 02:30Z on the 5th.
    pytest.param(
        "America/Santiago",
        DAY,
        23 * H + 1800,
        "2026-04-03 12:00",
        ["2026-04-04 02:30", "2026-04-05 02:30", "2026-04-06 03:30"],
        id="santiago-back-2330",
    ),
    # 2026-09-06 04:00Z, 00:00 -04 -> 01:00 -03: that midnight does not exist; read at -04 it
    # is 04:00Z = 01:00 -03, and 00:30 is 01:30 -03.
    pytest.param(
        "America/Santiago",
        DAY,
        0,
        "2026-09-04 12:00",
        ["2026-09-05 04:00", "2026-09-06 04:00", "2026-09-07 03:00"],
        id="santiago-gap-0000",
    ),
    pytest.param(
        "America/Santiago",
        DAY,
        1800,
        "2026-09-04 12:00",
        ["2026-09-05 04:30", "2026-09-06 04:30", "2026-09-07 03:30"],
        id="santiago-gap-0030",
    ),
    # Pacific/Apia skipped 2011-12-30: 2011-12-29 24:00 -10 became 2011-12-31 00:00 +14. The
    # 30th's 10:00, read at -10, is 20:00Z on the 30th, the very instant of the 31st's 10:00
    # +14: the two dates give one slot.
    pytest.param(
        "Pacific/Apia",
        DAY,
        10 * H,
        "2011-12-28 00:00",
        ["2011-12-28 20:00", "2011-12-29 20:00", "2011-12-30 20:00", "2011-12-31 20:00"],
        id="apia-skipped-day",
    ),
    # Europe/Dublin: Irish Standard Time (+1) in summer, GMT in winter, which the tz database
    # writes as a negative DST. The wall time holds all the same: 2026-03-29 01:00Z, 01:00
    # GMT -> 02:00 IST (01:30 moves to 02:30 IST = 01:30Z) ...
    pytest.param(
        "Europe/Dublin",
        DAY,
        H + 1800,
        "2026-03-27 12:00",
        ["2026-03-28 01:30", "2026-03-29 01:30", "2026-03-30 00:30"],
        id="dublin-gap",
    ),
    # ... 2026-10-25 01:00Z, 02:00 IST -> 01:00 GMT (01:30 twice, the first at +1).
    pytest.param(
        "Europe/Dublin",
        DAY,
        H + 1800,
        "2026-10-23 12:00",
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"],
        id="dublin-fold",
    ),
    # America/New_York, every Sunday (1970-01-01 was a Thursday: Sundays are day 3 of the
    # week's grid) at 02:30. 2026-03-08 07:00Z: 02:00 EST -> 03:00 EDT, so 02:30 is 03:30 EDT.
    pytest.param(
        "America/New_York",
        7 * DAY,
        3 * DAY + 2 * H + 1800,
        "2026-02-28 00:00",
        ["2026-03-01 07:30", "2026-03-08 07:30", "2026-03-15 06:30"],
        id="new-york-weekly-gap",
    ),
    # 2026-11-01 06:00Z: 02:00 EDT -> 01:00 EST; 02:30 is not ambiguous (01:00-02:00 is) ...
    pytest.param(
        "America/New_York",
        7 * DAY,
        3 * DAY + 2 * H + 1800,
        "2026-10-24 00:00",
        ["2026-10-25 06:30", "2026-11-01 07:30", "2026-11-08 07:30"],
        id="new-york-weekly-0230",
    ),
    # ... 01:30 is: its first occurrence is at EDT, 05:30Z.
    pytest.param(
        "America/New_York",
        7 * DAY,
        3 * DAY + H + 1800,
        "2026-10-24 00:00",
        ["2026-10-25 05:30", "2026-11-01 05:30", "2026-11-08 06:30"],
        id="new-york-weekly-0130",
    ),
]


@pytest.mark.parametrize(("zone", "interval", "offset", "after", "expected"), TABLE)
def test_slots_across_transitions(
    zone: str, interval: int, offset: int, after: str, expected: list[str]
) -> None:
    slots = next_slots(interval, offset, utc(after), timezone=zone, count=len(expected))
    assert slots == [utc(text) for text in expected]
    assert all(slot.tzinfo is UTC for slot in slots)


def test_a_nonexistent_wall_time_moves_forward_by_the_gap() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    (slot,) = next_slots(DAY, 2 * H + 1800, utc("2026-03-29 00:00"), timezone="Europe/Berlin")
    local = slot.astimezone(berlin)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2026-03-29", 3, 30)


def test_an_ambiguous_wall_time_is_its_first_occurrence() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    (slot,) = next_slots(DAY, 2 * H + 1800, utc("2026-10-24 12:00"), timezone="Europe/Berlin")
    assert slot.astimezone(berlin).utcoffset() == timedelta(hours=2)  # CEST, the first 02:30


def test_dublin_keeps_the_wall_time_in_winter_and_summer() -> None:
    winter = next_slots(DAY, 12 * H, utc("2026-01-14 13:00"), timezone="Europe/Dublin")
    summer = next_slots(DAY, 12 * H, utc("2026-07-14 13:00"), timezone="Europe/Dublin")
    assert winter == [utc("2026-01-15 12:00")]  # GMT
    assert summer == [utc("2026-07-15 11:00")]  # IST, +1


def test_slots_are_strictly_after_after() -> None:
    slot = utc("2026-03-30 00:30")
    args = (DAY, 2 * H + 1800)
    assert next_slots(*args, slot, timezone="Europe/Berlin") == [utc("2026-03-31 00:30")]
    before = slot - timedelta(microseconds=1)
    assert next_slots(*args, before, timezone="Europe/Berlin") == [slot]


def test_after_may_be_in_any_zone() -> None:
    after = datetime(2026, 3, 29, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 01:00Z
    assert next_slots(DAY, 2 * H + 1800, after, timezone="Europe/Berlin") == [
        utc("2026-03-29 01:30")
    ]
    fixed = datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))  # 00:00Z
    assert next_slots(60, 0, fixed) == [utc("2026-01-01 00:01")]


@pytest.mark.parametrize("blank", [None, "", "UTC"])
def test_utc_and_blank_are_the_utc_epoch_grid(blank: str | None) -> None:
    after = utc("2026-05-05 10:00")
    expected = [after + timedelta(hours=14, minutes=7) + k * timedelta(days=3) for k in range(5)]
    # 2026-05-06 is day 20579 since 1970-01-01 (20579 % 3 == 2): offset 2 days + 00:07.
    assert next_slots(3 * DAY, 2 * DAY + 420, after, timezone=blank, count=5) == expected


def test_a_sub_day_interval_without_a_zone_is_the_utc_grid() -> None:
    after = utc("2026-05-05 10:00:07")
    assert next_slots(90, 30, after, count=3) == [
        utc("2026-05-05 10:00:30"),
        utc("2026-05-05 10:02:00"),
        utc("2026-05-05 10:03:30"),
    ]
    assert next_slots(3600, 0, after, timezone="UTC") == [utc("2026-05-05 11:00")]


def test_count_is_honoured_and_dates_that_collapse_count_once() -> None:
    slots = next_slots(DAY, 10 * H, utc("2011-12-29 00:00"), timezone="Pacific/Apia", count=3)
    assert slots == [utc("2011-12-29 20:00"), utc("2011-12-30 20:00"), utc("2011-12-31 20:00")]


@pytest.mark.parametrize(
    ("interval", "offset", "after", "zone", "count", "named"),
    [
        (3600, 0, utc("2026-01-01 00:00"), "Europe/Berlin", 1, "3600"),
        (DAY + 1, 0, utc("2026-01-01 00:00"), "Europe/Berlin", 1, "86401"),
        (DAY, 0, utc("2026-01-01 00:00"), "Europe/Nowhere", 1, "Europe/Nowhere"),
        (DAY, 0, utc("2026-01-01 00:00"), "../../etc/passwd", 1, "passwd"),
        (DAY, DAY, utc("2026-01-01 00:00"), "Europe/Berlin", 1, "86400"),
        (DAY, -1, utc("2026-01-01 00:00"), None, 1, "-1"),
        (DAY, None, utc("2026-01-01 00:00"), "Europe/Berlin", 1, "None"),
        (DAY, 0, utc("2026-01-01 00:00"), None, 0, "0"),
        (DAY, 0, utc("2026-01-01 00:00"), None, True, "True"),
        (DAY, 0, datetime(2026, 1, 1), None, 1, "2026"),
        (DAY, 0, "2026-01-01", None, 1, "2026-01-01"),
        (0, 0, utc("2026-01-01 00:00"), None, 1, "0"),
        (DAY, 0, utc("2026-01-01 00:00"), 3, 1, "3"),
    ],
)
def test_bad_input_is_refused_naming_the_value(
    interval: object, offset: object, after: object, zone: object, count: object, named: str
) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        next_slots(interval, offset, after, timezone=zone, count=count)  # type: ignore[arg-type]


def test_an_unknown_zone_is_a_timezone_error() -> None:
    with pytest.raises(TimezoneError, match="Mars/Olympus"):
        next_slots(DAY, 0, utc("2026-01-01 00:00"), timezone="Mars/Olympus")


def test_next_slots_is_exported_from_the_core_and_the_package() -> None:
    assert autosched.next_slots is autosched.scheduler.next_slots is next_slots
    assert autosched.next_run_after_last is next_run_after_last
    assert next_slots.__doc__


# -- the scheduler's "next run after the last one" rule -----------------------------------


def test_next_run_after_last_is_the_next_slot_when_the_last_run_is_long_past() -> None:
    now = utc("2026-03-28 12:00")
    last = utc("2026-03-28 01:30")
    assert next_run_after_last(DAY, 2 * H + 1800, now, last, timezone="Europe/Berlin") == utc(
        "2026-03-29 01:30"
    )


def test_next_run_after_last_waits_half_an_interval_after_the_last_run() -> None:
    # Hourly at :00; the last run started at 10:50 (a retime): 11:00 is too close, 12:00 not.
    now = utc("2026-03-28 10:55")
    assert next_run_after_last(H, 0, now, utc("2026-03-28 10:50")) == utc("2026-03-28 12:00")
    # Exactly half an interval after the last start is allowed.
    assert next_run_after_last(H, 0, now, utc("2026-03-28 10:30")) == utc("2026-03-28 11:00")
    assert next_run_after_last(H, 0, now, None) == utc("2026-03-28 11:00")


def test_next_run_after_last_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="last_run"):
        next_run_after_last(H, 0, utc("2026-03-28 10:55"), datetime(2026, 3, 28, 10))
