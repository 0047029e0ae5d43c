"""The Prometheus metrics: scraped from the real endpoint after real runs."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autosched.models import PeriodicTask
from autosched.reports import Reporter
from autosched.runner import SchedulerRunner
from autosched.runner.metrics import MetricsServer, SchedulerMetrics, TaskInfo, parse_address
from autosched.scheduler import Scheduler
from tests.waiting import wait_until_async

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Return every sample served at ``/metrics``: {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def ok() -> None:
    pass


def broken() -> None:
    raise RuntimeError("boom")


@pytest.fixture
def served() -> Iterator[tuple[Scheduler, SchedulerMetrics, MetricsServer]]:
    scheduler = Scheduler(grace_period=1)
    metrics = SchedulerMetrics(
        scheduler,
        describe=lambda: {name: TaskInfo(f"app.{name}", "process") for name in scheduler.tasks},
    )
    metrics.attach()
    server = MetricsServer(metrics.registry, "127.0.0.1:0")
    yield scheduler, metrics, server
    server.close()


@pytest.fixture
async def running(
    served: tuple[Scheduler, SchedulerMetrics, MetricsServer],
) -> AsyncIterator[tuple[Scheduler, SchedulerMetrics, MetricsServer]]:
    scheduler = served[0]
    run = asyncio.create_task(scheduler.start())
    await wait_until_async(scheduler.is_running, "the scheduler to start")
    yield served
    scheduler.stop()
    await run


async def test_runs_are_counted_by_task_and_outcome(
    running: tuple[Scheduler, SchedulerMetrics, MetricsServer],
) -> None:
    scheduler, _, server = running
    scheduler.add_task("good", ok, 3600)
    scheduler.add_task("bad", broken, 3600)
    for name in ("good", "good", "bad"):
        scheduler.run_now(name)
        await wait_until_async(lambda n=name: not scheduler.tasks[n].running, "the run to end")

    samples = await asyncio.to_thread(scrape, server.port)

    assert value(samples, "autosched_runs_total", task="good", outcome="ok") == 2
    assert value(samples, "autosched_runs_total", task="bad", outcome="error") == 1
    assert value(samples, "autosched_run_duration_seconds_count", task="good") == 2
    assert value(samples, "autosched_run_duration_seconds_bucket", task="bad", le="+Inf") == 1
    success = value(samples, "autosched_last_success_timestamp_seconds", task="good")
    assert success == pytest.approx(datetime.now(UTC).timestamp(), abs=60)
    assert value(samples, "autosched_last_success_timestamp_seconds", task="bad") is None
    next_run = value(samples, "autosched_next_run_timestamp_seconds", task="good")
    assert next_run == pytest.approx(scheduler.tasks["good"].next_run.timestamp())  # type: ignore[union-attr]
    assert value(samples, "autosched_running", task="good") == 0
    info = {"task": "good", "function": "app.good", "run_on": "process"}
    assert value(samples, "autosched_task_info", **info) == 1
    assert value(samples, "autosched_leader") == 1
    assert value(samples, "autosched_lease_transitions_total") == 0
    # Run now is not the dispatch of a slot.
    assert value(samples, "autosched_dispatch_lateness_seconds_count") == 0


async def test_a_scheduled_run_records_its_lateness(
    running: tuple[Scheduler, SchedulerMetrics, MetricsServer],
) -> None:
    scheduler, _, server = running
    scheduler.add_task("aligned", ok, 1, offset=0)  # its slots are the whole seconds
    await wait_until_async(lambda: scheduler.tasks["aligned"].run_count, "a scheduled run")

    samples = await asyncio.to_thread(scrape, server.port)

    assert value(samples, "autosched_dispatch_lateness_seconds_count") >= 1  # type: ignore[operator]
    # The scheduler is idle here: every run starts well within a second of its slot.
    assert value(samples, "autosched_dispatch_lateness_seconds_bucket", le="1.0") == value(
        samples, "autosched_dispatch_lateness_seconds_count"
    )


async def test_a_running_task_shows_running(
    running: tuple[Scheduler, SchedulerMetrics, MetricsServer],
) -> None:
    scheduler, _, server = running
    release = asyncio.Event()

    async def waits() -> None:
        await release.wait()

    scheduler.add_task("slow", waits, 3600)
    scheduler.run_now("slow")
    samples = await asyncio.to_thread(scrape, server.port)
    release.set()

    assert value(samples, "autosched_running", task="slow") == 1


async def test_a_removed_task_leaves_no_series(
    running: tuple[Scheduler, SchedulerMetrics, MetricsServer],
) -> None:
    scheduler, _, server = running
    scheduler.add_task("old-name", ok, 3600)
    scheduler.run_now("old-name")
    await wait_until_async(lambda: scheduler.tasks["old-name"].run_count, "the run")
    assert await asyncio.to_thread(scrape, server.port)

    scheduler.remove_task("old-name")  # what the sync does for a row deleted or renamed
    samples = await asyncio.to_thread(scrape, server.port)

    assert not [key for key in samples if ("task", "old-name") in key[1]]


async def test_worker_rows_count_the_workers_runs_and_their_enqueues_apart(
    running: tuple[Scheduler, SchedulerMetrics, MetricsServer],
) -> None:
    scheduler, metrics, server = running
    metrics.worker_rows = lambda: {"w": 7}  # reports go by the row's pk
    scheduler.add_task("w", ok, 3600)  # the scheduler's run of a worker row: the enqueue
    scheduler.run_now("w")
    await wait_until_async(lambda: scheduler.tasks["w"].run_count, "the enqueue")
    reporter, now = Reporter(), datetime.now(UTC)

    async def report(outcome: str, finished_at: datetime) -> Samples:
        await asyncio.to_thread(
            reporter.finished,
            7,
            "w",
            slot=finished_at.isoformat(),
            started_at=finished_at - timedelta(seconds=2),
            finished_at=finished_at,
            scheduled_at=None,
            outcome=outcome,
            error=None if outcome == "ok" else "RuntimeError: boom",
            host="h",
            pid=1,
        )
        return await asyncio.to_thread(scrape, server.port)

    samples = await report("ok", now)

    assert value(samples, "autosched_enqueues_total", task="w", outcome="ok") == 1
    assert value(samples, "autosched_runs_total", task="w", outcome="ok") == 1
    assert value(samples, "autosched_run_duration_seconds_sum", task="w") == 2.0
    success = value(samples, "autosched_last_success_timestamp_seconds", task="w")
    assert success == pytest.approx(now.timestamp())

    # A later scrape counts only what the worker reported since.
    samples = await report("error", now + timedelta(seconds=5))

    assert value(samples, "autosched_runs_total", task="w", outcome="ok") == 1
    assert value(samples, "autosched_runs_total", task="w", outcome="error") == 1
    assert value(samples, "autosched_run_duration_seconds_count", task="w") == 2
    assert value(samples, "autosched_last_success_timestamp_seconds", task="w") == success
    assert value(samples, "autosched_enqueues_total", task="w", outcome="ok") == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
async def test_the_runner_reports_its_rows_and_the_lease() -> None:
    await PeriodicTask.objects.acreate(
        name="described", function="tests.testapp.tasks.no_default", interval_seconds=3600
    )
    runner = SchedulerRunner(sync_interval=0.05)
    metrics = SchedulerMetrics.for_runner(runner)
    server = MetricsServer(metrics.registry, "127.0.0.1:0")
    try:
        await runner.load()
        run = asyncio.create_task(runner.run())
        await wait_until_async(runner.scheduler.is_running, "the scheduler to start")
        samples = await asyncio.to_thread(scrape, server.port)
        runner.request_stop()
        async with asyncio.timeout(10):
            await run
    finally:
        server.close()

    assert value(samples, "autosched_leader") == 1
    assert value(samples, "autosched_lease_transitions_total") == 1
    info = {"task": "described", "function": "tests.testapp.tasks.no_default", "run_on": "process"}
    assert value(samples, "autosched_task_info", **info) == 1
    assert metrics.leader() is False  # released on the way out


def test_each_metrics_has_a_registry_of_its_own() -> None:
    first, second = SchedulerMetrics(Scheduler()), SchedulerMetrics(Scheduler())

    assert first.registry is not second.registry


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:9100", ("127.0.0.1", 9100)), ("[::1]:0", ("::1", 0)), ("host:80", ("host", 80))],
)
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["9100", ":9100", "host:", "host:port", "host:70000"])
def test_parse_address_refuses_what_is_not_host_port(address: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(address)


def test_an_address_in_use_raises_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            MetricsServer(SchedulerMetrics(Scheduler()).registry, f"127.0.0.1:{port}")
