"""Run now through the database: claiming once, expiry, and the runner running requests."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from autosched.models import PeriodicTask, RunRequest
from autosched.models.run_request import Claim, claim, claim_requests, pending_ids
from autosched.runner import SchedulerRunner
from autosched.runner.run_now import start_claimed_runs
from autosched.scheduler import Scheduler
from tests.scheduler.helpers import running
from tests.testapp import tasks
from tests.waiting import wait_until_async

NO_DEFAULT = "tests.testapp.tasks.no_default"


@pytest.fixture
def task(db: None) -> PeriodicTask:
    return PeriodicTask.objects.create(name="manual", function=NO_DEFAULT, interval_seconds=300)


def test_a_request_is_claimed_once(task: PeriodicTask) -> None:
    request = RunRequest.objects.create(task=task, requested_by="ann")
    claims = claim_requests(claimer="host-a:1")
    assert claims == [Claim(request.pk, "manual", "ann", request.requested_at)]
    assert claim_requests(claimer="host-b:2") == []
    request.refresh_from_db()
    assert request.claimed_by == "host-a:1"
    assert request.claimed_at is not None


def test_two_schedulers_that_saw_the_same_request_run_it_once(task: PeriodicTask) -> None:
    RunRequest.objects.create(task=task, requested_by="ann")
    # Both read the pending ids before either updates: the UPDATE decides who wins.
    seen_by_a, seen_by_b = pending_ids(), pending_ids()
    now = timezone.now()
    won_by_b = claim(seen_by_b, "default", now=now, claimer="host-b:2")
    won_by_a = claim(seen_by_a, "default", now=now, claimer="host-a:1")
    assert [c.name for c in won_by_b] == ["manual"]
    assert won_by_a == []


def test_nothing_pending_costs_one_query(
    task: PeriodicTask, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        assert claim_requests(claimer="x:1") == []


def test_a_request_older_than_a_minute_expires(
    task: PeriodicTask, caplog: pytest.LogCaptureFixture
) -> None:
    old = timezone.now() - timedelta(seconds=61)
    RunRequest.objects.create(task=task, requested_by="ann", requested_at=old)
    fresh = RunRequest.objects.create(task=task, requested_by="bob")
    with caplog.at_level(logging.WARNING, "autosched"):
        claims = claim_requests(claimer="x:1")
    assert [c.id for c in claims] == [fresh.pk]
    assert list(RunRequest.objects.values_list("requested_by", flat=True)) == ["bob"]
    assert "Run request for 'manual' by ann expired" in caplog.text


def test_claimed_requests_are_kept_for_a_day(task: PeriodicTask) -> None:
    RunRequest.objects.create(
        task=task, claimed_at=timezone.now() - timedelta(days=1, seconds=1), claimed_by="x:1"
    )
    RunRequest.objects.create(task=task, claimed_at=timezone.now(), claimed_by="x:1")
    RunRequest.objects.create(task=task)
    claim_requests(claimer="x:1")
    assert RunRequest.objects.count() == 2


def test_deleting_the_task_deletes_its_requests(task: PeriodicTask) -> None:
    RunRequest.objects.create(task=task)
    task.delete()
    assert not RunRequest.objects.exists()


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
async def close_thread_connections() -> AsyncIterator[None]:
    """Close the connection that sync_to_async's thread opened, so PostgreSQL can drop the DB."""
    yield
    await sync_to_async(connections.close_all)()


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
