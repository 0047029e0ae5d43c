"""ScheduledTask: what a task is, and its run state in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autosched import ScheduledTask
from tests.scheduler.helpers import noop


async def test_scheduled_task_defaults_next_run_to_one_interval_from_now() -> None:
    before = datetime.now(UTC)
    task = ScheduledTask("t", noop, 60)
    assert task.last_run is None
    assert task.next_run is not None
    assert before + timedelta(seconds=60) <= task.next_run <= datetime.now(UTC) + timedelta(60)
