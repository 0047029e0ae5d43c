"""The scheduler with a zoned task: one run per local day across both 2026 Berlin transitions.

Time is virtual (``virtual.py``): the loop jumps to its next timer, and the scheduler's
monotonic and wall clocks move with it, so seven months of daily slots take milliseconds.
Expected instants are written out by hand from Berlin's rules: CET (+1) until 2026-03-29
01:00Z, CEST (+2) until 2026-10-25 01:00Z, then CET; the daily 02:30 slot is 01:30Z in
winter and 00:30Z in summer, 01:30Z (03:30 CEST) on the spring-forward day and 00:30Z (the
first 02:30, CEST) on the fall-back day.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from autosched.scheduler import Scheduler, TimezoneError, current_slot
from tests.scheduler.virtual import VirtualClock

pytestmark = pytest.mark.usefixtures("tzdata_zones")

DAY, H = 86_400, 3_600
BERLIN = "Europe/Berlin"
AT_0230 = 2 * H + 1800


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Runs:
    """An async task function recording each run's slot and the wall time it ran at."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.slots: list[datetime] = []
        self.walls: list[datetime] = []

    async def __call__(self) -> None:
        slot = current_slot()
        assert slot is not None
        self.slots.append(slot)
        self.walls.append(self.clock.wall())

    def local_days(self) -> Counter[date]:
        berlin = ZoneInfo(BERLIN)
        return Counter(slot.astimezone(berlin).date() for slot in self.slots)


def expected_slot(day: date) -> datetime:
    """Return the 02:30 Berlin slot of ``day`` in 2026, from the rules in the module doc."""
    if day == date(2026, 3, 29):
        return datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, moved by the gap
    summer = date(2026, 3, 29) < day <= date(2026, 10, 25)  # the 25th: the first 02:30
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(
        hours=0 if summer else 1, minutes=30
    )


async def advance_to(clock: VirtualClock, moment: str) -> None:
    import asyncio

    await asyncio.sleep((utc(moment) - clock.wall()).total_seconds())


def check_one_run_per_day(runs: Runs, first: date, last: date) -> None:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert runs.local_days() == Counter(days)
    assert runs.slots == [expected_slot(day) for day in days]
    # Each ran on its slot (the timer fires at the slot by the virtual clocks).
    for slot, wall in zip(runs.slots, runs.walls, strict=True):
        assert timedelta(0) <= wall - slot < timedelta(seconds=1)


@pytest.mark.parametrize("catch_up", [0.0, 3600.0])
def test_one_run_per_local_day_across_both_transitions_and_a_restart_in_the_repeated_hour(
    monkeypatch: pytest.MonkeyPatch, catch_up: float
) -> None:
    import asyncio

    clock = VirtualClock(utc("2026-03-27 12:00"))
    runs = Runs(clock)

    async def main() -> Scheduler:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("report", runs, DAY, offset=AT_0230, timezone=BERLIN)
        started = asyncio.create_task(scheduler.start())
        # 02:15 CET on 2026-10-25: the second pass of the repeated hour, after the first
        # 02:30 ran (00:30Z) and before the second one (01:30Z), which must not run.
        await advance_to(clock, "2026-10-25 01:15")
        scheduler.stop()
        await started
        started = asyncio.create_task(scheduler.start(catch_up=catch_up))
        await advance_to(clock, "2026-10-27 12:00")
        scheduler.stop()
        await started
        return scheduler

    scheduler = clock.run(main, monkeypatch)
    check_one_run_per_day(runs, date(2026, 3, 28), date(2026, 10, 27))
    status = scheduler.get_task_status("report")
    assert status is not None
    assert status["timezone"] == BERLIN
    assert status["skip_count"] == 0


@pytest.mark.parametrize("restart_at", ["2026-10-25 01:15", "2026-10-25 01:45"])
def test_a_fresh_scheduler_started_in_the_repeated_hour_runs_no_slot_twice(
    monkeypatch: pytest.MonkeyPatch, restart_at: str
) -> None:
    import asyncio

    clock = VirtualClock(utc("2026-10-23 12:00"))
    runs = Runs(clock)

    async def run_until(moment: str) -> None:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("report", runs, DAY, offset=AT_0230, timezone=BERLIN)
        started = asyncio.create_task(scheduler.start())
        await advance_to(clock, moment)
        scheduler.stop()
        await started

    async def main() -> None:
        await run_until(restart_at)
        await run_until("2026-10-27 12:00")

    clock.run(main, monkeypatch)
    check_one_run_per_day(runs, date(2026, 10, 24), date(2026, 10, 27))


def test_a_scheduler_started_before_the_first_0230_of_the_fold_runs_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    clock = VirtualClock(utc("2026-10-25 00:15"))  # 02:15 CEST, the first pass
    runs = Runs(clock)

    async def main() -> None:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("report", runs, DAY, offset=AT_0230, timezone=BERLIN)
        started = asyncio.create_task(scheduler.start())
        await advance_to(clock, "2026-10-26 12:00")
        scheduler.stop()
        await started

    clock.run(main, monkeypatch)
    assert runs.slots == [utc("2026-10-25 00:30"), utc("2026-10-26 01:30")]


def test_next_run_is_the_zoned_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = VirtualClock(utc("2026-03-28 12:00"))

    async def main() -> None:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("report", runs, DAY, offset=AT_0230, timezone=BERLIN)
        status = scheduler.get_task_status("report")
        assert status is not None
        assert status["next_run"] == "2026-03-29T01:30:00+00:00"
        assert status["seconds_until_next"] == 13.5 * H
        assert status["timezone"] == BERLIN

    runs = Runs(clock)
    clock.run(main, monkeypatch)


# -- what is refused, and what a change of interval, offset or zone does ------------------


async def noop() -> None:
    pass


@pytest.mark.parametrize(
    ("interval", "offset", "zone", "named"),
    [
        (H, 0, BERLIN, "3600"),
        (DAY, None, BERLIN, "offset"),
        (DAY, 0, "Europe/Atlantis", "Europe/Atlantis"),
        (DAY, 0, 42, "42"),
    ],
)
def test_add_task_refuses_a_zone_it_cannot_follow(
    interval: int, offset: int | None, zone: object, named: str
) -> None:
    scheduler = Scheduler()
    with pytest.raises(ValueError, match=named):
        scheduler.add_task("t", noop, interval, offset=offset, timezone=zone)  # type: ignore[arg-type]
    assert scheduler.tasks == {}


@pytest.mark.parametrize("blank", ["", "UTC", None])
def test_utc_or_blank_allows_any_interval_and_no_offset(blank: str | None) -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, 90, timezone=blank)
    scheduler.add_task("u", noop, 90, offset=30, timezone=blank)
    assert scheduler.tasks["t"].zone is None
    assert scheduler.tasks["u"].timezone == (blank or None)


def test_retiming_a_zoned_task_to_a_sub_day_interval_is_refused_and_changes_nothing() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, DAY, offset=AT_0230, timezone=BERLIN)
    with pytest.raises(TimezoneError, match="whole days"):
        scheduler.update_task_interval("t", H, offset=0)
    task = scheduler.tasks["t"]
    assert (task.interval_seconds, task.offset_seconds, task.timezone) == (DAY, AT_0230, BERLIN)
    with pytest.raises(TimezoneError, match="offset"):
        scheduler.update_task_offset("t", None)
    assert task.offset_seconds == AT_0230


def test_retiming_to_a_sub_day_interval_while_clearing_the_zone_is_allowed() -> None:
    scheduler = Scheduler()
    scheduler.add_task("t", noop, DAY, offset=AT_0230, timezone=BERLIN)
    scheduler.update_task_interval("t", H, offset=0, timezone=None)
    task = scheduler.tasks["t"]
    assert (task.interval_seconds, task.offset_seconds, task.timezone, task.zone) == (
        H,
        0,
        None,
        None,
    )


def test_a_change_of_zone_moves_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = VirtualClock(utc("2026-07-01 12:00"))

    async def main() -> None:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("t", noop, DAY, offset=9 * H)
        assert scheduler.tasks["t"].next_run == utc("2026-07-02 09:00")
        scheduler.update_task_timezone("t", "America/New_York")  # EDT, -4
        assert scheduler.tasks["t"].next_run == utc("2026-07-01 13:00")  # 09:00 EDT today
        assert scheduler.tasks["t"].timezone == "America/New_York"
        scheduler.update_task_timezone("t", None)
        assert scheduler.tasks["t"].next_run == utc("2026-07-02 09:00")
        with pytest.raises(TimezoneError, match="Nowhere/Else"):
            scheduler.update_task_timezone("t", "Nowhere/Else")
        scheduler.update_task_interval("t", 2 * H, offset=0)
        with pytest.raises(TimezoneError, match="7200"):
            scheduler.update_task_timezone("t", BERLIN)
        assert scheduler.tasks["t"].timezone is None

    clock.run(main, monkeypatch)


def test_a_skipped_day_is_one_run_and_no_missed_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    # Pacific/Apia went from 2011-12-29 24:00 -10 to 2011-12-31 00:00 +14: the 30th's 10:00,
    # read at -10, is 20:00Z on the 30th, which is also the 31st's 10:00 +14.
    clock = VirtualClock(utc("2011-12-28 12:00"))
    runs = Runs(clock)

    async def main() -> Scheduler:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("apia", runs, DAY, offset=10 * H, timezone="Pacific/Apia")
        started = asyncio.create_task(scheduler.start())
        await advance_to(clock, "2012-01-01 12:00")
        scheduler.stop()
        await started
        return scheduler

    scheduler = clock.run(main, monkeypatch)
    assert runs.slots == [
        utc("2011-12-28 20:00"),
        utc("2011-12-29 20:00"),
        utc("2011-12-30 20:00"),
        utc("2011-12-31 20:00"),
    ]
    assert scheduler.tasks["apia"].skip_count == 0  # the two dates of one instant: one slot


def test_a_retime_follows_next_run_after_last(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from autosched.scheduler import next_run_after_last

    clock = VirtualClock(utc("2026-03-28 12:00"))
    runs = Runs(clock)

    async def main() -> Scheduler:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("report", runs, DAY, offset=AT_0230, timezone=BERLIN)
        started = asyncio.create_task(scheduler.start())
        await advance_to(clock, "2026-03-29 03:00")  # ran at 01:30Z (03:30 CEST)
        # 14:00 CEST today is 12:00Z, less than half a day after the run: tomorrow's it is.
        scheduler.update_task_interval("report", DAY, offset=14 * H)
        scheduler.stop()
        await started
        return scheduler

    scheduler = clock.run(main, monkeypatch)
    assert runs.slots == [utc("2026-03-29 01:30")]
    expected = utc("2026-03-30 12:00")
    assert scheduler.tasks["report"].next_run == expected
    last_run = scheduler.tasks["report"].last_run
    assert last_run == utc("2026-03-29 01:30")
    now = utc("2026-03-29 03:00")
    assert next_run_after_last(DAY, 14 * H, now, last_run, timezone=BERLIN) == expected


def test_a_task_built_by_hand_is_checked_too() -> None:
    from autosched.scheduler import ScheduledTask

    with pytest.raises(TimezoneError, match=r"Task 'hand'.*3600"):
        ScheduledTask("hand", noop, H, offset_seconds=0, timezone=BERLIN)
    task = ScheduledTask("hand", noop, DAY, offset_seconds=0, timezone=BERLIN)
    assert task.zone == ZoneInfo(BERLIN)
    assert task.status(None, utc("2026-01-01 00:00"))["timezone"] == BERLIN


def test_slots_missed_over_a_dst_change_are_coalesced_into_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    clock = VirtualClock(utc("2026-03-27 12:00"))
    runs = Runs(clock)

    async def main() -> Scheduler:
        scheduler = Scheduler(wall_clock=clock.wall)
        scheduler.add_task("report", runs, DAY, offset=AT_0230, timezone=BERLIN)
        started = asyncio.create_task(scheduler.start())
        await asyncio.sleep(0)
        # The machine sleeps three days, over the spring-forward day: both clocks jump.
        clock.monotonic += 3 * DAY
        await advance_to(clock, "2026-03-31 12:00")
        scheduler.stop()
        await started
        return scheduler

    scheduler = clock.run(main, monkeypatch)
    # The 28th, 29th and 30th fell while asleep: one run for the latest, two missed.
    assert runs.slots == [utc("2026-03-30 00:30"), utc("2026-03-31 00:30")]
    assert runs.walls[0] == utc("2026-03-30 12:00")
    assert scheduler.tasks["report"].skip_count == 2
