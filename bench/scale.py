"""Benchmark of autosched beyond one machine, on PostgreSQL 127.0.0.1:5432.

    python bench/scale.py [--kills 5] [--only failover,enqueue,capacity]

* failover: two ``runscheduler`` processes; SIGKILL the active one, time until the standby
  says it is active; a fresh standby is started for the next kill. Default lease settings.
* enqueue: the cost of one enqueue to django-tasks-db (one INSERT), measured in process.
* capacity: the largest number of tasks at 1 s one scheduler keeps on time (p99 lateness of
  the run start, or of the committed enqueue, <= 50 ms), in process and in enqueue mode,
  beside APScheduler 3 running the same functions (it has no lease and no enqueue of its own:
  its jobs call the same enqueue function).

Prints a table and writes it to ``bench/results/scale-<timestamp>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _core_impls import TITLES, make_impl, quiet_loggers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.processes.settings")
os.environ["AUTOSCHED_TEST_DB"] = "postgres"  # the processes' settings follow the test run's
RESULTS_DIR = ROOT / "bench" / "results"
LATENESS_LIMIT = 0.050
SIZES = (10, 25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000)


def failover(kills: int) -> list[float]:
    """Return the seconds from each SIGKILL of the active process to the standby's takeover."""
    from tests.processes.helpers import (
        ACTIVE,
        CommandProcess,
        command,
        drop,
        migrate,
        process_env,
        unique,
    )

    database = unique("autosched_bench")
    migrate(database)
    env = process_env(database, Path(os.devnull))
    started: list[CommandProcess] = []

    def start() -> CommandProcess:
        proc = CommandProcess(command("runscheduler", "--sync-interval", "0.5"), env)
        started.append(proc)
        return proc

    times = []
    try:
        active = start()
        active.wait_for_output(ACTIVE)
        for _ in range(kills):
            standby = start()
            standby.wait_for_output("Standing by")
            # Kill at a random point of the renewal cycle, as a crash would.
            time.sleep(random.uniform(0, 2))
            active.popen.kill()
            killed = time.monotonic()
            times.append(standby.wait_for_output(ACTIVE, timeout=30) - killed)
            active.close()
            active = standby
    finally:
        for proc in started:
            proc.close()
        drop(database)
    return times


def enqueue_cost(count: int = 500) -> float:
    """Return the mean milliseconds of one enqueue to django-tasks-db."""
    from autosched.runner.calls import enqueuer

    enqueue = enqueuer(
        "tests.processes.tasks.work", "bench", backend="default", queue_name="default", priority=0
    )
    enqueue()  # connect and import first
    started = time.perf_counter()
    for _ in range(count):
        enqueue()
    return (time.perf_counter() - started) / count * 1000


async def lateness(
    impl_name: str, size: int, make: Callable[[], Callable[[], Any]], spread: bool
) -> float:
    """Run ``size`` tasks at 1 s for 5 slots; return the p99 lateness in seconds.

    ``spread``: the tasks' grids are spread evenly over the second (rows created at different
    times); otherwise all are due at once (a burst of ``size`` runs each second). Lateness is
    taken when the work is done: the run's start in process, the committed INSERT in enqueue
    mode. The first slot warms up threads and connections and is left out.
    """
    impl = make_impl(impl_name)
    await impl.start()
    late: list[float] = []
    anchors: dict[str, float] = {}

    def timed(name: str, work: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            work()
            now = time.monotonic()
            anchor = anchors.get(name)
            if anchor is not None and (slot := round(now - anchor)) >= 2:
                late.append(now - (anchor + slot))

        return run

    batch = max(1, size // 100)
    for number in range(size):
        if spread and number % batch == 0:
            await asyncio.sleep(0.01)
        name = f"t{number}"
        anchors[name] = impl.add(name, timed(name, make()), 1, time.monotonic())
    await asyncio.sleep(5.5)
    await impl.stop()
    if len(late) < 2:
        return float("inf")
    return statistics.quantiles(late, n=100)[98]


def capacity(impl_name: str, mode: str, spread: bool) -> tuple[int, dict[int, float]]:
    """Return the largest size kept on time, and the p99 lateness at each size tried."""
    from autosched.runner.calls import enqueuer

    def make() -> Callable[[], Any]:
        if mode == "process":
            return lambda: None
        return enqueuer(
            "tests.processes.tasks.work", "b", backend="default", queue_name="default", priority=0
        )

    best, seen = 0, {}
    for size in SIZES:
        seen[size] = asyncio.run(lateness(impl_name, size, make, spread))
        if seen[size] > LATENESS_LIMIT:
            break
        best = size
    return best, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--only", default="failover,enqueue,capacity")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    quiet_loggers()
    logging.getLogger("autosched").setLevel(logging.ERROR)
    # APScheduler logs the runs it cancels at shutdown as errors; they are not ours to show.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)

    from tests.processes.helpers import drop, migrate, unique

    database = unique("autosched_bench_db")
    os.environ["AUTOSCHED_PROCESS_DB"] = database
    os.environ.setdefault("AUTOSCHED_PROCESS_LOG", str(Path(tempfile.gettempdir()) / "bench.log"))
    migrate(database)
    import django

    django.setup()
    lines = [
        f"autosched scale benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{os.cpu_count()} CPUs, PostgreSQL on 127.0.0.1:5432",
        "",
        f"{'measure':<62} {'value':>6}",
    ]
    try:
        if "failover" in only:
            times = failover(args.kills)
            label = f"failover after SIGKILL, {len(times)} kills: median / max (s)"
            lines.append(f"{label:<62} {statistics.median(times):.2f} / {max(times):.2f}")
        if "enqueue" in only:
            label = "enqueue overhead per run (ms, django-tasks-db on PostgreSQL)"
            lines.append(f"{label:<62} {enqueue_cost():>6.2f}")
        if "capacity" in only:
            lines += ["", "Tasks at 1 s kept on time (p99 lateness <= 50 ms), same workload:"]
            for mode in ("process", "enqueue"):
                for spread in (True, False):
                    phase = "spread over the second" if spread else "all due at once"
                    for impl in ("autosched", "apscheduler"):
                        best, seen = capacity(impl, mode, spread)
                        label = f"  {TITLES[impl]}, {mode}, {phase}"
                        tried = ", ".join(f"{n}: {p * 1000:.0f}" for n, p in seen.items())
                        lines.append(f"{label:<62} {best:>6}")
                        lines.append(f"      p99 lateness (ms) by number of tasks: {tried}")
    finally:
        from django.db import connections

        connections.close_all()
        drop(database)
    text = "\n".join(lines)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"scale-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.txt"
    path.write_text(text + "\n", encoding="utf-8")
    print(f"\nSaved to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
