"""Graceful restarts and handovers lose no slot and run none twice, in real processes (SPEC §5).

Each restart is a SIGTERM and, at once, a fresh ``runscheduler`` started for it, timed a
little before a slot (the slot falls while nobody is active: the new process runs it late) or
a little after one (the stopping process just ran it: nobody runs it again, grace or not).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autosched.models import PeriodicTask
from autosched.schedule import spread_offset
from tests.processes.helpers import ACTIVE, ALIAS, CommandProcess, key, long_test, postgres_only
from tests.processes.test_slots import STANDING_BY, GridRun, grid_runs, sleep_until_wall

Launch = Callable[[], CommandProcess]


def slot_near(moment: float, interval: float, offset: float) -> float:
    """Return the slot of the grid nearest to ``moment``."""
    return offset + interval * round((moment - offset) / interval)


def restart(old: CommandProcess, launch: Launch) -> CommandProcess:
    """SIGTERM ``old`` and start a fresh process for it; return the new one, once active."""
    old.popen.send_signal(signal.SIGTERM)
    new = launch()
    assert old.popen.wait(15) == 0, str(old)
    new.wait_for_output(ACTIVE)
    return new


def explain(runs: list[GridRun]) -> str:
    return "\n".join(f"slot {r.slot:.3f} at +{r.wall - r.slot:.3f} s in {r.pid}" for r in runs)


@long_test
@pytest.mark.parametrize("grace", ["0", "5"])
def test_graceful_restarts_run_every_slot_once(
    start: Callable[..., CommandProcess], runs_log: Path, grace: str
) -> None:
    interval = 3
    PeriodicTask.objects.using(ALIAS).create(
        name="row", function=key("spread"), interval_seconds=interval
    )
    offset = spread_offset("row", interval)

    def launch() -> CommandProcess:
        return start(
            "runscheduler", "--sync-interval", "0.2", AUTOSCHED_PROCESS_MISSED_SLOT_GRACE=grace
        )

    process = launch()
    process.wait_for_output(ACTIVE)
    began = time.time()
    # Restarts about every 5 s for 45 s, alternately just before and just after a slot.
    restarts = 0
    for target in range(5, 41, 5):
        slot = slot_near(began + target, interval, offset)
        sleep_until_wall(slot - 0.05 if restarts % 2 == 0 else slot + 0.05)
        process = restart(process, launch)
        restarts += 1
    sleep_until_wall(slot_near(time.time(), interval, offset) + interval + interval / 2)
    stopped = time.time()
    assert process.stop(signal.SIGTERM) == 0, str(process)

    runs = grid_runs(runs_log, "spread")
    slots = [run.slot for run in runs]
    assert len(slots) == len(set(slots)), f"a slot ran twice:\n{explain(runs)}"
    first = slot_near(began, interval, offset)
    first += interval if first <= began else 0
    expected = [first + interval * k for k in range(int((stopped - first) // interval) + 1)]
    ran = [slot for slot in slots if began < slot <= stopped]
    assert ran == pytest.approx(expected, abs=1e-3), f"a slot was lost:\n{explain(runs)}"
    assert len({run.pid for run in runs}) >= restarts  # every process took its turn
    assert any(run.wall - run.slot > 0.2 for run in runs)  # the gaps' slots ran late


@postgres_only
def test_a_process_started_for_the_stop_that_beats_a_standby_misses_no_slot(
    start: Callable[..., CommandProcess], runs_log: Path
) -> None:
    # Issue 19, 6: a standby watches; the process started for the stop takes the lease first.
    interval = 4
    PeriodicTask.objects.using(ALIAS).create(
        name="pinned", function=key("on_grid"), interval_seconds=interval, offset_seconds=0
    )

    def launch() -> CommandProcess:
        return start("runscheduler", "--sync-interval", "0.2")

    active = launch()
    active.wait_for_output(ACTIVE)
    standby = launch()
    standby.wait_for_output(STANDING_BY)
    active.wait_for(lambda: grid_runs(runs_log, "on_grid"), "a run of the active one")

    # The standby is held still across the stop, so that the fresh process wins the lease.
    handover_slot = slot_near(time.time() + interval, interval, 0)
    sleep_until_wall(handover_slot - 0.05)
    standby.popen.send_signal(signal.SIGSTOP)
    try:
        fresh = restart(active, launch)
    finally:
        standby.popen.send_signal(signal.SIGCONT)

    # Then the standby, still watching, takes over from the fresh process's graceful stop.
    fresh.wait_for(lambda: grid_runs(runs_log, "on_grid")[-1].slot > handover_slot, "a run")
    second_slot = slot_near(time.time() + interval, interval, 0)
    sleep_until_wall(second_slot - 0.05)
    assert fresh.stop(signal.SIGTERM) == 0, str(fresh)
    standby.wait_for_output(ACTIVE)
    standby.wait_for(
        lambda: grid_runs(runs_log, "on_grid")[-1].slot > second_slot, "a run of the standby"
    )
    assert standby.stop(signal.SIGTERM) == 0, str(standby)

    runs = grid_runs(runs_log, "on_grid")
    slots = [run.slot for run in runs]
    assert slots == [slots[0] + interval * k for k in range(len(slots))], explain(runs)
    by_slot = {run.slot: run.pid for run in runs}
    assert by_slot[handover_slot] == fresh.pid, explain(runs)
    assert by_slot[second_slot] == standby.pid, explain(runs)
