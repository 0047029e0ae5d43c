"""Slots on the UTC clock across restarts, a crash and a graceful handover, in real processes."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autosched.models import PeriodicTask
from autosched.schedule import spread_offset
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    CommandProcess,
    key,
    long_test,
    postgres_only,
    read_runs,
)

STANDING_BY = "Standing by: the scheduler lease 'default' is held by"


@dataclass(frozen=True)
class GridRun:
    """One run of on_grid or spread: its slot and when it started, both on the wall clock."""

    name: str
    slot: float
    wall: float
    pid: int


def grid_runs(log: Path, name: str) -> list[GridRun]:
    runs = []
    for run in read_runs(log):
        label, _, rest = run.name.partition("@")
        if label == name:
            slot, wall = rest.split("@")
            runs.append(GridRun(name, float(slot), float(wall), run.pid))
    return sorted(runs, key=lambda r: r.slot)


def on_grid(moment: float, interval: float, offset: float) -> bool:
    return abs((moment - offset) / interval - round((moment - offset) / interval)) < 1e-6


def sleep_until_wall(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


@long_test
def test_restarts_keep_the_grid(
    start_scheduler: Callable[..., CommandProcess], runs_log: Path
) -> None:
    tasks = PeriodicTask.objects.using(ALIAS)
    tasks.create(name="pinned", function=key("on_grid"), interval_seconds=3, offset_seconds=1)
    tasks.create(name="spread-4s", function=key("spread"), interval_seconds=4)
    began = time.time()
    process = start_scheduler()
    # Restarted with SIGTERM every 6 s for about 48 s, each time just after a slot (1 + 3k):
    # a restart that takes under 3 s misses no slot, and no start begins a fresh cycle.
    first = 1 + 3 * (int((time.time() - 1) // 3) + 1) + 0.1
    for restart in range(8):
        sleep_until_wall(first + 6 * restart)
        assert process.stop(signal.SIGTERM, timeout=10) == 0, str(process)
        process = start_scheduler()
    ended = time.time()
    assert process.stop(signal.SIGTERM, timeout=10) == 0, str(process)

    pinned = grid_runs(runs_log, "on_grid")
    slots = [1 + 3 * k for k in range(int((began - 1) // 3) + 1, int((ended - 1) // 3) + 1)]
    assert len(pinned) >= len(slots) / 2, (len(pinned), len(slots))
    for run in pinned:
        assert on_grid(run.slot, 3, 1)  # on 1 + 3k, whichever process ran it
        assert 0 <= run.wall - run.slot < 0.25, run  # and on time: not a late catch-up
    starts = [run.wall for run in pinned]
    assert all(b - a >= 1.5 for a, b in itertools.pairwise(starts))
    assert len({run.slot for run in pinned}) == len(pinned)  # no slot twice

    offset = spread_offset("spread-4s", 4)
    spread = grid_runs(runs_log, "spread")
    assert len({run.pid for run in spread}) >= 5  # it ran in several of the processes...
    assert all(on_grid(run.slot, 4, offset) for run in spread)  # ...always in the same phase


@postgres_only
def test_a_standby_taking_over_after_a_crash_continues_the_grid(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="pinned", function=key("on_grid"), interval_seconds=1, offset_seconds=0
    )
    active = start("runscheduler", "--sync-interval", "0.2")
    active.wait_for_output(ACTIVE)
    standby = start("runscheduler", "--sync-interval", "0.2")
    standby.wait_for_output(STANDING_BY)
    active.wait_for(lambda: len(grid_runs(runs_log, "on_grid")) >= 3, "runs of the active one")
    active.popen.kill()  # SIGKILL: the lease expires; the slots meanwhile are skipped
    active.popen.wait()
    standby.wait_for_output(ACTIVE, timeout=15)
    standby.wait_for(
        lambda: sum(run.pid == standby.pid for run in grid_runs(runs_log, "on_grid")) >= 3,
        "runs of the new active scheduler",
    )
    assert standby.stop(signal.SIGTERM) == 0
    runs = grid_runs(runs_log, "on_grid")
    assert {run.pid for run in runs} == {active.pid, standby.pid}
    assert all(on_grid(run.slot, 1, 0) for run in runs)
    assert len({run.slot for run in runs}) == len(runs)  # no slot ran twice
    for run in runs:
        assert 0 <= run.wall - run.slot < 0.25  # nothing run late after the takeover


@postgres_only
def test_a_graceful_handover_misses_no_slot(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="pinned", function=key("on_grid"), interval_seconds=2, offset_seconds=0
    )
    active = start("runscheduler", "--sync-interval", "0.2")
    active.wait_for_output(ACTIVE)
    standby = start("runscheduler", "--sync-interval", "0.2")
    standby.wait_for_output(STANDING_BY)
    active.wait_for(lambda: len(grid_runs(runs_log, "on_grid")) >= 2, "runs of the active one")
    # SIGTERM just before a slot, with no run in flight: the slot falls during the handover.
    handover_slot = (int(time.time()) // 2 + 1) * 2
    if handover_slot - time.time() < 0.5:
        handover_slot += 2
    sleep_until_wall(handover_slot - 0.05)
    assert active.stop(signal.SIGTERM) == 0, str(active)
    standby.wait_for_output(ACTIVE, timeout=5)
    standby.wait_for(
        lambda: sum(run.pid == standby.pid for run in grid_runs(runs_log, "on_grid")) >= 3,
        "runs of the new active scheduler",
    )
    assert standby.stop(signal.SIGTERM) == 0
    runs = grid_runs(runs_log, "on_grid")
    slots = [run.slot for run in runs]
    assert handover_slot in slots, (handover_slot, slots)
    # Every slot from the first run to the last ran exactly once, in one process or the other.
    assert slots == [slots[0] + 2 * k for k in range(len(slots))], slots
    late = next(run for run in runs if run.slot == handover_slot)
    assert late.pid == standby.pid
    assert late.wall - late.slot < 1.5  # caught up by the standby at once
