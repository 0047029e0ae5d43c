"""The real ``runscheduler --metrics-addr``: scrape ``/metrics`` of a running process."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from autosched.models import PeriodicTask
from tests.processes.helpers import ALIAS, CommandProcess, key, run_times


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_running_scheduler_serves_its_metrics(
    start_scheduler: Callable[..., CommandProcess], runs_log: Path
) -> None:
    port = free_port()
    process = start_scheduler("--metrics-addr", f"127.0.0.1:{port}")
    tasks = PeriodicTask.objects.using(ALIAS)
    tasks.create(name="tick-1", function=key("tick"), interval_seconds=1)
    process.wait_for(lambda: run_times(runs_log, "tick"), "a run of tick-1")

    def counted() -> float:
        labels = (("outcome", "ok"), ("task", "tick-1"))
        return scrape(port).get(("autosched_runs_total", labels), 0)

    process.wait_for(counted, "the run counted at /metrics")
    samples = scrape(port)

    assert samples[("autosched_leader", ())] == 1
    assert samples[("autosched_lease_transitions_total", ())] == 1
    assert ("autosched_next_run_timestamp_seconds", (("task", "tick-1"),)) in samples
    assert process.stop() == 0
