"""The timer over the heap of slots: never left disarmed, never stalled by one task."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from autosched.scheduler import (
    MIN_INTERVAL_SECONDS,
    Scheduler,
)
from autosched.scheduler.grid import Entry
from tests.scheduler.helpers import Calls, running


async def test_a_millisecond_interval_does_not_stall_its_neighbour() -> None:
    fast, neighbour = Calls(), Calls()
    scheduler = Scheduler()
    async with running(scheduler):
        scheduler.add_task("fast", fast.coro, MIN_INTERVAL_SECONDS)
        scheduler.add_task("neighbour", neighbour.coro, 0.2)
        await asyncio.sleep(1.5)
    assert neighbour.count >= 7  # every 0.2 s over 1.5 s, none lost
    assert fast.count > 100


async def test_a_task_that_cannot_be_scheduled_leaves_the_timer_armed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    healthy, broken = Calls(), Calls()
    real_fire = Entry.fire

    def fire(self: Entry, now: float, wall: float) -> Any:
        if self.task.name == "broken":
            raise OverflowError("boom")
        return real_fire(self, now, wall)

    monkeypatch.setattr(Entry, "fire", fire)
    scheduler = Scheduler()
    with caplog.at_level(logging.ERROR, logger="autosched"):
        async with running(scheduler):
            scheduler.add_task("broken", broken.coro, 0.05)
            scheduler.add_task("healthy", healthy.coro, 0.05)
            await healthy.wait_for(5)
    assert broken.count == 0
    assert "Cannot schedule task 'broken'" in caplog.text
    assert scheduler.get_task_status("broken")["next_run"] is None  # type: ignore[index]
