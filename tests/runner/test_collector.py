"""collector_paused: no full garbage collection while rows load, and the load frozen after."""

from __future__ import annotations

import gc

from autosched.runner.collector import collector_paused


def test_a_bulk_load_pauses_the_collector_and_freezes_what_it_made() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with collector_paused():
        with collector_paused():  # the sync thread and the loop may overlap
            made = [[n] for n in range(1000)]
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(made)
    gc.unfreeze()  # leave the test process as it was


def test_a_pause_without_freeze_freezes_nothing() -> None:
    frozen = gc.get_freeze_count()
    with collector_paused(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_overlapping_pauses_freeze_if_one_of_them_asked() -> None:
    frozen = gc.get_freeze_count()
    with collector_paused(freeze=False):
        with collector_paused():
            made = [[n] for n in range(1000)]
        assert gc.get_freeze_count() == frozen  # not before the last one ends
    assert gc.get_freeze_count() >= frozen + len(made)
    gc.unfreeze()
