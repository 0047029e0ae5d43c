"""The OpenTelemetry metrics, read with the SDK's in-memory reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from autosched.runner.otel import OpenTelemetryMetrics
from autosched.scheduler import Scheduler
from tests.waiting import wait_until_async


def ok() -> None:
    pass


def broken() -> None:
    raise RuntimeError("boom")


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Return each metric's data points, by name, as collected now."""
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        if scope.scope.name == "autosched"
        for metric in scope.metrics
    }


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[Scheduler, OpenTelemetryMetrics, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    scheduler = Scheduler()
    recorder = OpenTelemetryMetrics(
        scheduler, meter_provider=MeterProvider(metric_readers=[reader]), worker_rows=lambda: {"w"}
    )
    recorder.attach()
    run = asyncio.create_task(scheduler.start())
    await wait_until_async(scheduler.is_running, "the scheduler to start")
    yield scheduler, recorder, reader
    scheduler.stop()
    await run


async def test_runs_are_recorded_by_task_and_outcome(
    recorded: tuple[Scheduler, OpenTelemetryMetrics, InMemoryMetricReader],
) -> None:
    scheduler, recorder, reader = recorded
    scheduler.add_task("good", ok, 3600)
    scheduler.add_task("bad", broken, 3600)
    for name in ("good", "good", "bad"):
        scheduler.run_now(name)
        await wait_until_async(lambda n=name: not scheduler.tasks[n].running, "the run to end")
    recorder.lease_changed()

    found = points(reader)

    runs = {(p.attributes["autosched.task.name"], p.attributes["autosched.run.outcome"]): p.value
            for p in found["autosched.runs"]}  # fmt: skip
    assert runs == {("good", "ok"): 2, ("bad", "error"): 1}
    durations = {
        p.attributes["autosched.task.name"]: p.count for p in found["autosched.run.duration"]
    }
    assert durations == {"good": 2, "bad": 1}
    [success] = found["autosched.task.last_success"]
    assert success.attributes == {"autosched.task.name": "good"}
    assert {p.attributes["autosched.task.name"] for p in found["autosched.task.next_run"]} == {
        "good",
        "bad",
    }
    assert [p.value for p in found["autosched.task.running"]] == [0, 0]
    assert [p.value for p in found["autosched.leader"]] == [1]
    assert [p.value for p in found["autosched.lease.transitions"]] == [1]


async def test_a_worker_rows_runs_here_are_its_enqueues(
    recorded: tuple[Scheduler, OpenTelemetryMetrics, InMemoryMetricReader],
) -> None:
    scheduler, _, reader = recorded
    scheduler.add_task("w", ok, 3600)
    points(reader)  # a collection learns which rows are worker rows
    scheduler.run_now("w")
    await wait_until_async(lambda: scheduler.tasks["w"].run_count, "the enqueue")

    found = points(reader)

    [enqueue] = found["autosched.enqueues"]
    assert (enqueue.attributes["autosched.task.name"], enqueue.value) == ("w", 1)
    assert "autosched.runs" not in found


async def test_a_scheduled_run_records_its_lateness(
    recorded: tuple[Scheduler, OpenTelemetryMetrics, InMemoryMetricReader],
) -> None:
    scheduler, _, reader = recorded
    scheduler.add_task("aligned", ok, 1, offset=0)
    await wait_until_async(lambda: scheduler.tasks["aligned"].run_count, "a scheduled run")

    [lateness] = points(reader)["autosched.dispatch.lateness"]
    assert lateness.count >= 1
    assert 0 <= lateness.sum < lateness.count  # each well within a second of its slot
