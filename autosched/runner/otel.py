"""OpenTelemetry metrics of ``runscheduler`` (the ``autosched[otel]`` extra).

The instruments of the Prometheus exporter, through ``opentelemetry-api`` on the meter
``autosched``, named in the semantic conventions' style (dotted, the unit apart): the
application's ``MeterProvider`` decides where they go; without an SDK they cost a no-op.
Runs are counted by a run observer; the gauges are read when the SDK collects. A worker row's
runs happen in its worker, so here the scheduler records its enqueues
(``autosched.enqueues``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from autosched.scheduler import ScheduledTask, Scheduler

if TYPE_CHECKING:
    from autosched.runner.runner import SchedulerRunner

__all__ = ["OpenTelemetryMetrics"]

TASK = "autosched.task.name"
OUTCOME = "autosched.run.outcome"


class OpenTelemetryMetrics:
    """Record a scheduler's runs and lease on the OpenTelemetry meter ``autosched``."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        meter_provider: MeterProvider | None = None,
        worker_rows: Callable[[], Collection[str]] = frozenset,
        leader: Callable[[], bool] = lambda: True,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.scheduler = scheduler
        self.worker_rows = worker_rows
        self.leader = leader
        self._wall_clock = wall_clock
        self._last_success: dict[str, float] = {}
        self._lease_transitions = 0
        self._workers: Collection[str] = frozenset()
        meter = metrics.get_meter("autosched", meter_provider=meter_provider)
        self.runs = meter.create_counter(
            "autosched.runs", unit="{run}", description="Finished runs, by task and outcome."
        )
        self.enqueues = meter.create_counter(
            "autosched.enqueues",
            unit="{enqueue}",
            description="Enqueues of worker rows' runs, by task and outcome.",
        )
        self.duration = meter.create_histogram(
            "autosched.run.duration", unit="s", description="How long runs took, by task."
        )
        self.lateness = meter.create_histogram(
            "autosched.dispatch.lateness",
            unit="s",
            description="Seconds from a run's slot to its start.",
        )
        meter.create_observable_gauge(
            "autosched.task.last_success",
            [self._observe_last_success],
            unit="s",
            description="When the task's last successful run ended (Unix time).",
        )
        meter.create_observable_gauge(
            "autosched.task.next_run",
            [self._observe_next_run],
            unit="s",
            description="When the task runs next (Unix time).",
        )
        meter.create_observable_gauge(
            "autosched.task.running",
            [self._observe_running],
            unit="{run}",
            description="1 while a run of the task goes on.",
        )
        meter.create_observable_gauge(
            "autosched.leader",
            [lambda options: [Observation(1 if self.leader() else 0)]],
            unit="1",
            description="1 while this process is the active scheduler, 0 on a standby.",
        )
        meter.create_observable_counter(
            "autosched.lease.transitions",
            [lambda options: [Observation(self._lease_transitions)]],
            unit="{transition}",
            description="Times this process gained or lost the scheduler lease.",
        )

    def attach(self) -> None:
        """Start recording the scheduler's runs."""
        self.scheduler.add_observer(self.on_run)

    def detach(self) -> None:
        """Stop recording the scheduler's runs."""
        self.scheduler.remove_observer(self.on_run)

    def on_run(
        self, task: ScheduledTask, outcome: str, duration: float, slot: datetime | None
    ) -> None:
        """Record one finished run (a ``RunObserver``)."""
        attributes = {TASK: task.name, OUTCOME: outcome}
        if task.name in self._workers:
            self.enqueues.add(1, attributes)
        else:
            self.runs.add(1, attributes)
            self.duration.record(duration, {TASK: task.name})
            if outcome == "ok":
                self._last_success[task.name] = self._wall_clock()
        started = task.last_run
        if slot is not None and started is not None and slot != started:
            self.lateness.record(max((started - slot).total_seconds(), 0.0))

    def lease_changed(self) -> None:
        """Count one change of this process's role."""
        self._lease_transitions += 1

    def _tasks(self) -> list[ScheduledTask]:
        with self.scheduler.lock:
            tasks = list(self.scheduler.tasks.values())
        self._workers = frozenset(self.worker_rows())  # refreshed at each collection
        return tasks

    def _observe_last_success(self, options: CallbackOptions) -> Iterable[Observation]:
        names = {task.name for task in self._tasks()}
        for name in [name for name in list(self._last_success) if name not in names]:
            self._last_success.pop(name, None)  # a task gone leaves no series
        return [Observation(when, {TASK: name}) for name, when in self._last_success.items()]

    def _observe_next_run(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(task.next_run.timestamp(), {TASK: task.name})
            for task in self._tasks()
            if task.next_run is not None
        ]

    def _observe_running(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(1 if task.running else 0, {TASK: task.name})
            for task in self._tasks()
            if task.name not in self._workers
        ]

    @classmethod
    def for_runner(
        cls, runner: SchedulerRunner, meter_provider: MeterProvider | None = None
    ) -> OpenTelemetryMetrics:
        """Return the metrics of ``runner``'s scheduler and lease, recording its runs."""
        recorder = cls(
            runner.scheduler,
            meter_provider=meter_provider,
            worker_rows=runner.sync.worker_names,
            leader=runner.leadership.holds,
        )
        recorder._workers = runner.sync.worker_names()
        runner.lease_listeners.append(recorder.lease_changed)
        recorder.attach()
        return recorder
