"""Run now served: claimed requests start runs in the scheduler, and the runner runs them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from autosched.models import PeriodicTask, RunRequest
from autosched.models.run_request import Claim
from autosched.runner import SchedulerRunner
from autosched.runner.run_now import start_claimed_runs
from autosched.scheduler import Scheduler, current_slot
from tests.scheduler.helpers import running
from tests.testapp import tasks
from tests.waiting import wait_until_async

NO_DEFAULT = "tests.testapp.tasks.no_default"


def claim_of(name: str) -> Claim:
    return Claim(1, name, "ann", timezone.now())


async def test_a_claim_runs_the_task() -> None:
    ran = asyncio.Event()
    scheduler = Scheduler()
    scheduler.add_task("manual", ran.set, 300)
    async with running(scheduler):
        assert start_claimed_runs(scheduler, [claim_of("manual")]) == 1
        await asyncio.wait_for(ran.wait(), 5)
    assert scheduler.tasks["manual"].run_count == 1


async def test_a_claim_for_a_running_task_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()
    scheduler = Scheduler()
    scheduler.add_task("busy", release.wait, 300)
    async with running(scheduler):
        assert start_claimed_runs(scheduler, [claim_of("busy")]) == 1
        await asyncio.sleep(0)  # let the first run start
        with caplog.at_level(logging.WARNING, "autosched"):
            assert start_claimed_runs(scheduler, [claim_of("busy")]) == 0
        release.set()
    assert scheduler.tasks["busy"].run_count == 1
    assert "Run request for 'busy' by ann dropped: the task is running already" in caplog.text


async def test_a_claim_for_a_task_not_loaded_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler()
    async with running(scheduler):
        with caplog.at_level(logging.WARNING, "autosched"):
            assert start_claimed_runs(scheduler, [claim_of("ghost")]) == 0
    assert "Run request for 'ghost' by ann dropped: the task is not loaded" in caplog.text


async def test_a_claim_while_the_scheduler_is_stopped_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("manual", lambda: None, 300)
    with caplog.at_level(logging.WARNING, "autosched"):
        assert start_claimed_runs(scheduler, [claim_of("manual")]) == 0
    assert "Run request for 'manual' by ann dropped: the scheduler is stopping" in caplog.text


@pytest.fixture
async def runner(
    transactional_db: None, close_thread_connections: None
) -> AsyncIterator[SchedulerRunner]:
    runner = SchedulerRunner(sync_interval=0.05)
    await runner.load()
    running = asyncio.create_task(runner.run())
    yield runner
    runner.request_stop()
    await asyncio.wait_for(running, 5)


async def test_the_runner_runs_a_request_within_a_second(runner: SchedulerRunner) -> None:
    tasks.calls.clear()
    task = await PeriodicTask.objects.acreate(
        name="manual", function=NO_DEFAULT, interval_seconds=300
    )
    await wait_until_async(  # loaded by the next sync
        lambda: "manual" in runner.scheduler.tasks, "the new row to be loaded", timeout=2
    )
    requested = time.monotonic()
    await RunRequest.objects.acreate(task=task, requested_by="ann")
    await wait_until_async(
        lambda: runner.scheduler.tasks["manual"].run_count > 0, "the requested run", timeout=1
    )
    assert time.monotonic() - requested < 1
    assert tasks.calls == ["no_default"]
    request = await RunRequest.objects.aget()
    assert request.claimed_by == str(runner.identity)


async def test_a_claimed_run_sees_the_request_time_as_its_slot() -> None:
    seen: list[object] = []
    scheduler = Scheduler()
    scheduler.add_task("manual", lambda: seen.append(current_slot()), 300)
    requested = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    async with running(scheduler):
        assert start_claimed_runs(scheduler, [Claim(1, "manual", "ann", requested)]) == 1
        await wait_until_async(lambda: seen, "the run")
    assert seen == [requested]
