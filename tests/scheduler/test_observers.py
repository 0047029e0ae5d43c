"""Run observers: one plain call per finished run, with its outcome, duration and slot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autosched.scheduler import Scheduler
from tests.scheduler.helpers import running
from tests.waiting import wait_until_async


def ok() -> None:
    pass


def broken() -> None:
    raise RuntimeError("boom")


async def test_an_observer_hears_each_run_as_it_ends() -> None:
    heard: list[tuple[Any, ...]] = []
    scheduler = Scheduler()
    scheduler.add_observer(lambda *args: heard.append(args))
    slot = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    async with running(scheduler):
        scheduler.add_task("good", ok, 3600)
        scheduler.add_task("bad", broken, 3600)
        scheduler.run_now("good", scheduled_at=slot)
        scheduler.run_now("bad")
        await wait_until_async(lambda: len(heard) == 2, "both runs to end")

    by_name = {task.name: (outcome, duration, at) for task, outcome, duration, at in heard}
    assert by_name["good"][0] == "ok"
    assert by_name["good"][2] == slot
    assert by_name["bad"][0] == "error"
    assert by_name["bad"][2] == scheduler.tasks["bad"].last_run  # no slot given: its start
    assert all(duration >= 0 for _, duration, _ in by_name.values())


async def test_a_broken_observer_is_logged_and_the_run_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_observer(*args: Any) -> None:
        raise ValueError("observer bug")

    scheduler = Scheduler()
    scheduler.add_observer(bad_observer)
    async with running(scheduler):
        scheduler.add_task("good", ok, 3600)
        scheduler.run_now("good")
        await wait_until_async(lambda: scheduler.tasks["good"].run_count, "the run")

    assert scheduler.tasks["good"].last_outcome == "ok"
    assert any("Run observer" in record.getMessage() for record in caplog.records)


async def test_a_removed_observer_hears_nothing_more() -> None:
    heard: list[Any] = []

    def observer(*args: Any) -> None:
        heard.append(args)

    scheduler = Scheduler()
    scheduler.add_observer(observer)
    scheduler.remove_observer(observer)
    async with running(scheduler):
        scheduler.add_task("good", ok, 3600)
        scheduler.run_now("good")
        await wait_until_async(lambda: scheduler.tasks["good"].run_count, "the run")

    assert heard == []
