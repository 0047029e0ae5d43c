"""What the core calls for a row: the registered function in fresh connections, or an enqueue."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from autosched.runner.calls import enqueuer, with_fresh_connections
from autosched.scheduler import Scheduler
from autosched.worker import EnqueueError
from tests.tasks_backend import IMMEDIATE, needs_tasks
from tests.testapp import tasks

SYNC = "tests.testapp.tasks.no_default"


@pytest.fixture(autouse=True)
def immediate_backend(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@needs_tasks
def test_enqueued_run_calls_the_registered_function() -> None:
    tasks.calls.clear()
    enqueuer(SYNC, "job", backend="default", queue_name="default", priority=5)()
    assert tasks.calls == ["no_default"]


@needs_tasks
def test_enqueued_async_function_is_awaited() -> None:
    tasks.calls.clear()
    key = "tests.testapp.tasks.async_no_default"
    enqueuer(key, "job", backend="default", queue_name="default", priority=0)()
    assert tasks.calls == ["async_no_default"]


def test_failed_enqueue_names_task_and_backend() -> None:
    enqueue = enqueuer(SYNC, "job", backend="nope", queue_name="default", priority=0)
    with pytest.raises(EnqueueError, match="'job' to backend 'nope', queue 'default'"):
        enqueue()


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
