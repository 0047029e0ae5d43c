"""Where a row's slots fall: the spread offset and the next slot."""

from __future__ import annotations

from autosched.schedule import effective_offset, spread_offset


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
