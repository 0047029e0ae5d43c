"""What the core calls for a row: the registered function in fresh connections, or an enqueue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

from autosched.enqueue import EnqueueError
from autosched.runner.calls import enqueuer, with_fresh_connections
from autosched.scheduler import Scheduler
from tests.scheduler.helpers import running
from tests.tasks_backend import IMMEDIATE, needs_tasks
from tests.testapp import tasks
from tests.waiting import wait_until_async

SYNC = "tests.testapp.tasks.no_default"


@pytest.fixture(autouse=True)
def immediate_backend(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@needs_tasks
async def test_enqueued_run_calls_the_registered_function() -> None:
    tasks.calls.clear()
    await enqueuer(SYNC, "job", backend="default", queue_name="default", priority=5)()
    assert tasks.calls == ["no_default"]


@needs_tasks
async def test_enqueued_async_function_is_awaited() -> None:
    tasks.calls.clear()
    key = "tests.testapp.tasks.async_no_default"
    await enqueuer(key, "job", backend="default", queue_name="default", priority=0)()
    assert tasks.calls == ["async_no_default"]


async def test_failed_enqueue_names_task_and_backend() -> None:
    enqueue = enqueuer(SYNC, "job", backend="nope", queue_name="default", priority=0)
    with pytest.raises(EnqueueError, match="'job' to backend 'nope', queue 'default'"):
        await enqueue()


def test_wrapper_closes_old_connections_around_the_call() -> None:
    calls: list[str] = []
    with mock.patch(
        "autosched.runner.calls.close_old_connections", side_effect=lambda: calls.append("close")
    ):
        with_fresh_connections(lambda: calls.append("run"))()
    assert calls == ["close", "run", "close"]


def test_wrapper_closes_connections_after_a_failure() -> None:
    def fail() -> None:
        raise RuntimeError("boom")

    with (
        mock.patch("autosched.runner.calls.close_old_connections") as close,
        pytest.raises(RuntimeError),
    ):
        with_fresh_connections(fail)()
    assert close.call_count == 2


def test_async_functions_are_not_wrapped() -> None:
    assert with_fresh_connections(tasks.async_no_default) is tasks.async_no_default


async def test_wrapped_sync_run_closes_connections_in_the_worker_thread() -> None:
    seen: list[str] = []

    def job() -> None:
        seen.append("run")

    scheduler = Scheduler()
    scheduler.add_task("job", with_fresh_connections(job), 60)
    with mock.patch(
        "autosched.runner.calls.close_old_connections", side_effect=lambda: seen.append("close")
    ):
        await scheduler.run_task(scheduler.tasks["job"])
    assert seen == ["close", "run", "close"]


@needs_tasks
async def test_a_worker_run_gets_the_rows_kwargs_and_the_slot() -> None:
    tasks.greetings.clear()
    tasks.slots.clear()
    scheduler = Scheduler()
    greet = enqueuer(
        "tests.testapp.tasks.greet", "g", backend="default", queue_name="default", priority=0,
        kwargs={"who": "ann", "times": 3},
    )  # fmt: skip
    slot = enqueuer(
        "tests.testapp.tasks.on_the_slot", "s", backend="default", queue_name="default",
        priority=0,
    )  # fmt: skip
    scheduler.add_task("g", greet, 60)
    scheduler.add_task("s", slot, 60)
    requested = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    async with running(scheduler):
        scheduler.run_now("g")
        scheduler.run_now("s", scheduled_at=requested)
        await wait_until_async(lambda: tasks.greetings and tasks.slots, "both runs")
    assert tasks.greetings == [("ann", 3)]
    assert tasks.slots == [requested]  # through the queue as text, back as an aware datetime
