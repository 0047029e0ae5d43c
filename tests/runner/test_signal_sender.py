"""task_started and task_finished: what they carry, where they are sent, and failing receivers."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from autosched.models import PeriodicTask, RunRequest
from autosched.runner import SchedulerRunner
from autosched.runner.bulk import EnqueueBatcher
from autosched.runner.calls import enqueuer
from autosched.runner.signal_sender import SignalSender
from autosched.scheduler import RunEvent, Scheduler
from autosched.signals import task_finished, task_started
from tests.waiting import wait_until, wait_until_async


def job() -> None:
    """Do nothing."""


def fail() -> None:
    raise ValueError("bad value")


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler()
    scheduler.add_task("ok", job, 60)
    scheduler.add_task("fails", fail, 60)
    sender = SignalSender(scheduler)
    sender.start()
    yield scheduler
    sender.stop()


@pytest.fixture
def received() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def on_started(sender: Any, **kwargs: Any) -> None:
        calls.append(("started", {"sender": sender, **kwargs}))

    def on_finished(sender: Any, **kwargs: Any) -> None:
        calls.append(("finished", {"sender": sender, **kwargs}))

    task_started.connect(on_started)
    task_finished.connect(on_finished)
    yield calls
    task_started.disconnect(on_started)
    task_finished.disconnect(on_finished)


async def test_a_run_sends_started_then_finished(
    scheduler: Scheduler, received: list[tuple[str, dict[str, Any]]]
) -> None:
    await scheduler.run_task(scheduler.tasks["ok"])
    wait_until(lambda: len(received) == 2, "both signals")
    (first, started), (second, finished) = received
    assert (first, second) == ("started", "finished")
    assert started["sender"] is Scheduler
    assert started["name"] == "ok"
    assert started["started_at"] == scheduler.tasks["ok"].last_run
    assert finished["name"] == "ok"
    assert finished["outcome"] == "ok"
    assert finished["exception"] is None
    assert isinstance(finished["duration"], float)
    assert finished["started_at"] == started["started_at"]


async def test_a_failed_run_carries_its_exception(
    scheduler: Scheduler, received: list[tuple[str, dict[str, Any]]]
) -> None:
    await scheduler.run_task(scheduler.tasks["fails"])
    wait_until(lambda: len(received) == 2, "both signals")
    finished = received[1][1]
    assert finished["outcome"] == "error"
    assert isinstance(finished["exception"], ValueError)
    assert str(finished["exception"]) == "bad value"


async def test_a_worker_rows_enqueue_sends_nothing(
    scheduler: Scheduler, received: list[tuple[str, dict[str, Any]]]
) -> None:
    # The worker sends the signals of the run itself; the enqueue is not a run.
    batcher = EnqueueBatcher(enqueue=lambda backend, runs: [None] * len(runs))
    enqueue = enqueuer(
        "k", "on-worker", backend="default", queue_name="default", priority=0, batcher=batcher
    )
    scheduler.add_task("on-worker", enqueue, 60)
    await scheduler.run_task(scheduler.tasks["on-worker"])
    await scheduler.run_task(scheduler.tasks["ok"])
    wait_until(lambda: len(received) == 2, "the signals of the run in process")
    assert [kwargs["name"] for _, kwargs in received] == ["ok", "ok"]
    assert scheduler.tasks["on-worker"].last_outcome == "ok"


async def test_a_failing_receiver_is_logged_and_changes_nothing(
    scheduler: Scheduler,
    received: list[tuple[str, dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    task_started.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, "autosched"):
            await scheduler.run_task(scheduler.tasks["ok"])
            wait_until(lambda: len(received) == 2, "both signals")
    finally:
        task_started.disconnect(broken)
    task = scheduler.tasks["ok"]
    assert (task.last_outcome, task.run_count, task.error_count) == ("ok", 1, 0)
    assert "of task_started failed for task 'ok'" in caplog.text
    assert "RuntimeError: receiver bug" in caplog.text


async def test_receivers_run_off_the_event_loop_in_one_thread(scheduler: Scheduler) -> None:
    threads: list[str] = []

    def record(sender: Any, **kwargs: Any) -> None:
        threads.append(threading.current_thread().name)

    task_started.connect(record)
    task_finished.connect(record)
    try:
        await scheduler.run_task(scheduler.tasks["ok"])
        wait_until(lambda: len(threads) == 2, "both signals")
    finally:
        task_started.disconnect(record)
        task_finished.disconnect(record)
    assert threads == ["autosched-signals", "autosched-signals"]


@pytest.mark.django_db(transaction=True)
async def test_a_receiver_may_use_the_orm(scheduler: Scheduler) -> None:
    counts: list[int] = []

    def count_users(sender: Any, **kwargs: Any) -> None:
        counts.append(User.objects.count())  # would raise SynchronousOnlyOperation on the loop

    task_finished.connect(count_users)
    try:
        await scheduler.run_task(scheduler.tasks["ok"])
        wait_until(lambda: bool(counts), "the receiver")
    finally:
        task_finished.disconnect(count_users)
    assert counts == [0]


def test_nothing_is_queued_without_receivers() -> None:
    scheduler = Scheduler()
    scheduler.add_task("ok", job, 60)
    sender = SignalSender(scheduler, max_pending=1)
    sender._on_run(RunEvent("started", scheduler.tasks["ok"]))
    sender._on_run(RunEvent("finished", scheduler.tasks["ok"], "ok", 0.1))
    assert sender._queue.qsize() == 0


def test_events_beyond_the_queue_are_dropped_with_a_warning(
    received: list[tuple[str, dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("ok", job, 60)
    sender = SignalSender(scheduler, max_pending=2)  # not started: nothing drains the queue
    with caplog.at_level(logging.WARNING, "autosched"):
        for _ in range(5):
            sender._on_run(RunEvent("started", scheduler.tasks["ok"]))
    assert sender.dropped == 3
    assert caplog.text.count("Signal receivers cannot keep up") == 1


async def test_stop_sends_what_is_queued_first(
    received: list[tuple[str, dict[str, Any]]],
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("ok", job, 60)
    sender = SignalSender(scheduler)
    sender.start()
    await scheduler.run_task(scheduler.tasks["ok"])
    sender.stop()
    assert [kind for kind, _ in received] == ["started", "finished"]
    await scheduler.run_task(scheduler.tasks["ok"])  # no longer listening
    assert len(received) == 2


@pytest.mark.django_db(transaction=True)
async def test_runscheduler_sends_the_signals(
    received: list[tuple[str, dict[str, Any]]], close_thread_connections: None
) -> None:
    task = await PeriodicTask.objects.acreate(
        name="manual", function="tests.testapp.tasks.no_default", interval_seconds=300
    )
    await RunRequest.objects.acreate(task=task)  # run it at the first sync
    runner = SchedulerRunner(sync_interval=0.05)
    await runner.load()
    running = asyncio.create_task(runner.run())
    try:
        await wait_until_async(lambda: len(received) >= 2, "both signals of the run")
    finally:
        runner.request_stop()
        await asyncio.wait_for(running, 5)
    assert [(kind, kwargs["name"]) for kind, kwargs in received] == [
        ("started", "manual"),
        ("finished", "manual"),
    ]


def test_stop_is_bounded_when_a_receiver_hangs_and_the_queue_is_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("ok", job, 60)
    task = scheduler.tasks["ok"]
    release = threading.Event()

    def hung(sender: Any, **kwargs: Any) -> None:
        release.wait(30)

    task_finished.connect(hung)
    sender = SignalSender(scheduler, max_pending=10_000)
    try:
        sender.start()
        for _ in range(10_001):  # the first hangs the thread; the rest fill the queue
            sender._on_run(RunEvent("finished", task, "ok", 0.0, None))
        with caplog.at_level(logging.WARNING, logger="autosched"):
            began = time.monotonic()
            sender.stop(timeout=0.5)
            took = time.monotonic() - began
        assert took < 1.5
        assert "Signal receivers did not finish within 0.5 s" in caplog.text
    finally:
        release.set()
        task_finished.disconnect(hung)
