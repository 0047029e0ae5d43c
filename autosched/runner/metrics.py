"""Prometheus metrics of ``runscheduler --metrics-addr`` (the ``autosched[prometheus]`` extra).

A run listener on the loop thread only adds to plain dicts; every metric is built when
scraped, with prometheus-client's metric families, into a registry of autosched's own. So a
run costs a fraction of a microsecond more, and a task removed from the scheduler (a row
deleted or renamed) leaves no series behind. A worker row's run is the one its worker
reported (``autosched.reports``), read at the scrape; the scheduler's part of it, the
enqueue, is counted apart in ``autosched_enqueues_total``.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from autosched.reports import merge_report, read_reports
from autosched.scheduler import ScheduledTask, Scheduler

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from autosched.runner.runner import SchedulerRunner

__all__ = ["MetricsServer", "SchedulerMetrics", "parse_address"]

#: Upper bounds of the run duration buckets, in seconds: few, as every task has a histogram
#: and a scrape's cost grows with the lines (at 10,000 tasks, each bucket is 10,000 lines).
DURATION_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 30, 120, 600)
#: Upper bounds of the dispatch lateness buckets, in seconds.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)


class TaskInfo(NamedTuple):
    """What ``autosched_task_info`` says of a task besides its name."""

    function: str
    run_on: str


@functools.cache
def _bucket_labels(bounds: tuple[float, ...]) -> tuple[str, ...]:
    return (*(repr(float(bound)) for bound in bounds), "+Inf")


class _Histogram:
    """Bucket counts (not cumulative) and a sum: cheap to observe, cumulated when scraped."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        counts, running, result = list(self.counts), 0, []
        for bound, count in zip(_bucket_labels(self.bounds), counts, strict=True):
            running += count
            result.append((bound, float(running)))
        return result


class _TaskRuns:
    """One task's finished runs: by outcome, their durations, the last success."""

    __slots__ = ("durations", "last_success", "outcomes")

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.durations = _Histogram(DURATION_BUCKETS)
        self.last_success: float | None = None


class _WorkerSeen(NamedTuple):
    run_count: int
    error_count: int
    finished_at: str | None


class SchedulerMetrics(Collector):
    """Count a scheduler's runs and lease changes; say them as Prometheus metrics when scraped.

    ``worker_rows()`` maps the tasks that enqueue to a worker to their rows' pks;
    ``describe()`` gives each task's function and where it runs; ``leader()`` says whether
    this process is active.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        worker_rows: Callable[[], Mapping[str, int]] = dict,
        describe: Callable[[], Mapping[str, TaskInfo]] = dict,
        leader: Callable[[], bool] = lambda: True,
        cache_alias: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.scheduler = scheduler
        self.worker_rows = worker_rows
        self.describe = describe
        self.leader = leader
        self.cache_alias = cache_alias
        self._wall_clock = wall_clock
        #: The registry to scrape: autosched's own, never prometheus-client's global one.
        self.registry = CollectorRegistry(auto_describe=False)
        # Written on the loop thread only; read (copied) and pruned by the scrape.
        self._tasks: dict[str, _TaskRuns] = {}
        self._lateness = _Histogram(LATENESS_BUCKETS)
        self._lease_transitions = 0
        # Worker reports as folded in by the scrapes (the scrape thread only).
        self._scrape_lock = threading.Lock()
        self._worker_runs: dict[tuple[str, str], int] = {}
        self._worker_durations: dict[str, _Histogram] = {}
        self._worker_success: dict[str, float] = {}
        self._worker_seen: dict[str, _WorkerSeen] = {}
        self.registry.register(self)

    # -- hearing (loop thread; the lease's threads) -------------------------------------

    def attach(self) -> None:
        """Start counting the scheduler's runs."""
        self.scheduler.add_observer(self.on_run)

    def detach(self) -> None:
        """Stop counting the scheduler's runs."""
        self.scheduler.remove_observer(self.on_run)

    def on_run(
        self, task: ScheduledTask, outcome: str, duration: float, slot: datetime | None
    ) -> None:
        """Count one finished run (a ``RunObserver``: once per run, so kept to a few steps)."""
        runs = self._tasks.get(task.name)
        if runs is None:
            runs = self._tasks[task.name] = _TaskRuns()
        outcomes = runs.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        durations = runs.durations
        durations.counts[bisect.bisect_left(DURATION_BUCKETS, duration)] += 1
        durations.total += duration
        if outcome == "ok":
            runs.last_success = self._wall_clock()
        # A run started by hand without a slot has its start as its slot: no dispatch.
        started = task.last_run
        if slot is not None and started is not None and slot != started:
            # An aligned slot may be taken a hair early (the timer's tolerance): on time.
            late = max((started - slot).total_seconds(), 0.0)
            lateness = self._lateness
            lateness.counts[bisect.bisect_left(LATENESS_BUCKETS, late)] += 1
            lateness.total += late

    def lease_changed(self) -> None:
        """Count one change of this process's role (gained or lost the lease)."""
        self._lease_transitions += 1

    # -- saying (the scrape's thread) ---------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Return every metric as it is now (prometheus-client calls this at each scrape)."""
        with self.scheduler.lock:
            tasks = [
                (task.name, task.next_run, task.running) for task in self.scheduler.tasks.values()
            ]
        names = {name for name, _, _ in tasks}
        rows = {name: pk for name, pk in self.worker_rows().items() if name in names}
        workers = set(rows)
        with self._scrape_lock:
            self._prune(names)
            reports = self._read_reports(rows)
            finished = {name: runs for name, runs in list(self._tasks.items()) if name in names}
            yield from self._runs_families(finished, workers)
            yield from self._durations_family(finished, workers)
            yield self._lateness_family()
            yield from self._per_task(tasks, finished, workers, reports)
        leader = GaugeMetricFamily(
            "autosched_leader", "1 while this process is the active scheduler, 0 on a standby."
        )
        leader.add_metric([], 1.0 if self.leader() else 0.0)
        yield leader
        yield CounterMetricFamily(
            "autosched_lease_transitions",
            "Times this process gained or lost the scheduler lease.",
            value=self._lease_transitions,
        )

    def _prune(self, names: set[str]) -> None:
        # A task gone from the scheduler (a row deleted, renamed or skipped) drops its series.
        for key in [key for key in list(self._worker_runs) if key[0] not in names]:
            self._worker_runs.pop(key, None)
        for by_name in (
            self._tasks,
            self._worker_durations,
            self._worker_success,
            self._worker_seen,
        ):
            for name in [name for name in list(by_name) if name not in names]:
                by_name.pop(name, None)

    def _read_reports(self, rows: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        """Fold in what the workers reported since the last scrape; return the reports."""
        if not rows:
            return {}
        try:
            reports = read_reports(rows, cache_alias=self.cache_alias)
        except Exception:  # the cache is down: the scrape still says the rest
            return {}
        for name, report in reports.items():
            self._fold(name, report)
        return reports

    def _fold(self, name: str, report: dict[str, Any]) -> None:
        finished = report.get("finished") or {}
        seen = self._worker_seen.get(name, _WorkerSeen(0, 0, None))
        runs, errors = int(report.get("run_count", 0)), int(report.get("error_count", 0))
        if runs < seen.run_count or errors < seen.error_count:
            seen = _WorkerSeen(0, 0, None)  # the report expired and began again
        new_runs, new_errors = runs - seen.run_count, errors - seen.error_count
        self._worker_seen[name] = _WorkerSeen(runs, errors, finished.get("finished_at"))
        if new_runs <= 0 or finished.get("finished_at") == seen.finished_at:
            return
        # A report keeps counts and the latest run: the failures since the last scrape are
        # counted under the latest one's outcome when it failed ("error" otherwise).
        outcome = finished.get("outcome") or "error"
        failed_as = outcome if outcome != "ok" else "error"
        for key, count in (((name, "ok"), new_runs - new_errors), ((name, failed_as), new_errors)):
            if count > 0:
                self._worker_runs[key] = self._worker_runs.get(key, 0) + count
        histogram = self._worker_durations.setdefault(name, _Histogram(DURATION_BUCKETS))
        histogram.observe(float(finished.get("duration") or 0.0))
        if outcome == "ok" and finished.get("finished_at"):
            moment = datetime.fromisoformat(finished["finished_at"]).timestamp()
            self._worker_success[name] = max(moment, self._worker_success.get(name, 0.0))

    def _runs_families(self, finished: dict[str, _TaskRuns], workers: set[str]) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "autosched_runs",
            "Finished runs by task and outcome (a worker row's as its worker reported them).",
            labels=["task", "outcome"],
        )
        enqueues = CounterMetricFamily(
            "autosched_enqueues",
            "Enqueues of worker rows' runs by task and outcome.",
            labels=["task", "outcome"],
        )
        for name, task_runs in sorted(finished.items()):
            family = enqueues if name in workers else runs
            for outcome, count in sorted(dict(task_runs.outcomes).items()):
                family.add_metric([name, outcome], count)
        for (name, outcome), count in sorted(self._worker_runs.items()):
            if name in workers:
                runs.add_metric([name, outcome], count)
        yield runs
        yield enqueues

    def _durations_family(
        self, finished: dict[str, _TaskRuns], workers: set[str]
    ) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "autosched_run_duration_seconds",
            "How long runs took, by task (a worker row's as its worker reported them).",
            labels=["task"],
        )
        mine = {n: runs.durations for n, runs in finished.items() if n not in workers}
        theirs = {n: h for n, h in self._worker_durations.items() if n in workers}
        for name, histogram in sorted({**mine, **theirs}.items()):
            family.add_metric([name], histogram.buckets(), histogram.total)
        yield family

    def _lateness_family(self) -> Metric:
        family = HistogramMetricFamily(
            "autosched_dispatch_lateness_seconds",
            "Seconds from a run's slot to its start (for a worker row: to the enqueue).",
        )
        family.add_metric([], self._lateness.buckets(), self._lateness.total)
        return family

    def _per_task(
        self,
        tasks: list[tuple[str, datetime | None, bool]],
        finished: dict[str, _TaskRuns],
        workers: set[str],
        reports: dict[str, dict[str, Any]],
    ) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "autosched_last_success_timestamp_seconds",
            "When the task's last successful run ended (Unix time).",
            labels=["task"],
        )
        last = {
            n: runs.last_success
            for n, runs in finished.items()
            if n not in workers and runs.last_success is not None
        }
        last.update({n: t for n, t in self._worker_success.items() if n in workers})
        for name, moment in sorted(last.items()):
            success.add_metric([name], moment)
        next_run = GaugeMetricFamily(
            "autosched_next_run_timestamp_seconds",
            "When the task runs next (Unix time); absent while disabled.",
            labels=["task"],
        )
        running = GaugeMetricFamily(
            "autosched_running", "1 while a run of the task goes on.", labels=["task"]
        )
        for name, due, is_running in tasks:
            if due is not None:
                next_run.add_metric([name], due.timestamp())
            if name in workers:  # the worker's run, not the enqueue
                is_running = bool(merge_report({}, reports.get(name))["running"])
            running.add_metric([name], 1.0 if is_running else 0.0)
        info = InfoMetricFamily(
            "autosched_task", "What each task runs, and where.", labels=["task"]
        )
        for name, described in sorted(self.describe().items()):
            info.add_metric([name], {"function": described.function, "run_on": described.run_on})
        yield from (success, next_run, running, info)

    @classmethod
    def for_runner(cls, runner: SchedulerRunner) -> SchedulerMetrics:
        """Return the metrics of ``runner``'s scheduler, lease and rows, hearing its runs."""
        metrics = cls(
            runner.scheduler,
            worker_rows=runner.sync.worker_names,
            describe=lambda: {
                row.name: TaskInfo(row.function, str(row.run_on)) for row in runner.sync.rows()
            },
            leader=runner.leadership.holds,
        )
        runner.lease_listeners.append(metrics.lease_changed)
        metrics.attach()
        return metrics


def parse_address(address: str) -> tuple[str, int]:
    """Return (host, port) from "HOST:PORT" ("[::1]:9100" for IPv6); raise ValueError."""
    host, colon, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not HOST:PORT (e.g. 127.0.0.1:9100).")
    return host, int(port)


class MetricsServer:
    """Serve a registry at ``/metrics`` over HTTP, from a thread of prometheus-client's."""

    def __init__(self, registry: CollectorRegistry, address: str) -> None:
        self.host, port = parse_address(address)
        # OSError (address in use, unknown host) goes to the caller, which names the address.
        server, thread = start_http_server(port, self.host, registry)
        self._server: WSGIServer = server
        self._thread = thread
        #: The port listened on (the one asked for, or the one given for port 0).
        self.port: int = server.server_port

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
