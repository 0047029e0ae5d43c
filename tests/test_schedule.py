"""Where a row's slots fall: the spread offset and the next slot."""

from __future__ import annotations

from datetime import UTC, datetime

from autosched.schedule import effective_offset, next_slot_time, spread_offset


def test_the_spread_offset_is_stable_and_below_the_interval() -> None:
    # The same in every process and Python run: a fixed value for a fixed name.
    assert spread_offset("reports.nightly", 86400) == spread_offset("reports.nightly", 86400)
    assert 0 <= spread_offset("reports.nightly", 86400) < 86400
    assert spread_offset("a", 3600) == 1343  # blake2b of the name: never Python's hash()
    assert effective_offset("a", 3600, 900) == 900


def test_a_thousand_hourly_tasks_spread_over_the_hour() -> None:
    offsets = [spread_offset(f"task-{n}", 3600) for n in range(1000)]
    per_second: dict[int, int] = {}
    for offset in offsets:
        per_second[offset] = per_second.get(offset, 0) + 1
    assert max(per_second.values()) <= 4  # not 1,000 in one instant


def test_next_slot_time_is_on_the_grid() -> None:
    after = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert next_slot_time(86400, 10800, after) == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert next_slot_time(3600, 900, after) == datetime(2026, 12, 1, 3, 15, tzinfo=UTC)
