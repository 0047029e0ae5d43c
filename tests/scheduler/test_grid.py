"""Grid arithmetic of the core: slot k of a task is due at anchor + k * interval."""

from __future__ import annotations

import math

from autosched.scheduler.grid import next_slot


def test_next_slot_on_time_is_the_following_slot() -> None:
    assert next_slot(anchor=100.0, interval=10.0, fired_slot=1, now=110.002) == (2, 0)


def test_next_slot_early_timer_still_moves_forward() -> None:
    # A timer that fires a hair early must not pick the slot it is firing again.
    assert next_slot(anchor=100.0, interval=10.0, fired_slot=1, now=109.9999) == (2, 0)


def test_next_slot_coalesces_missed_slots() -> None:
    # Fired slot 1 (due 110) only at 135: slots 2 (120) and 3 (130) are folded into this run.
    assert next_slot(anchor=100.0, interval=10.0, fired_slot=1, now=135.0) == (4, 2)


def test_next_slot_now_exactly_on_a_slot_skips_it() -> None:
    assert next_slot(anchor=0.0, interval=1.0, fired_slot=1, now=3.0) == (4, 2)


def test_next_slot_stays_on_the_grid_after_many_slots() -> None:
    slot, missed = next_slot(anchor=5.0, interval=0.1, fired_slot=999_999, now=100_004.95)
    assert missed == 0
    assert math.isclose(5.0 + slot * 0.1, 100_005.0, abs_tol=1e-6)


def test_next_slot_float_rounding_never_returns_a_past_slot() -> None:
    for now in (0.3, 0.7, 1.1, 2.9000000000000004):
        slot, _ = next_slot(anchor=0.0, interval=0.1, fired_slot=1, now=now)
        assert slot * 0.1 > now
