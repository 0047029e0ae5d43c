"""Benchmark of autosched's enqueue mode at scale, beside django-celery-beat 2.9, on PostgreSQL.

    python bench/scale.py [--only burst,sustained,rq,reload] [--no-beat] [--beat-python PATH]
    python bench/scale.py --only failover [--kills 5]

In one run, each measure in a fresh child process on a fresh PostgreSQL database of its own:

* burst: 10,000 worker rows due at one instant, enqueued by a running ``SchedulerRunner`` to
  django-tasks-db; the time from the slot until the last run is committed, read from the
  database by another connection polling ``count(*)``.
* sustained: 5,000 enqueues a second for 10 s (5,000 tasks at 1 s, their slots spread over
  the second), the real enqueuer and batcher to django-tasks-db; p99 lateness of the commit
  (from the slot until the run's batch has committed).
* rq: the burst again, to RQ through django-tasks-rq; read from Redis (``LLEN`` of the queue).
* reload: 100,000 rows; the longest stall of the event loop (a probe that sleeps 1 ms in a
  loop) while a running ``SchedulerRunner`` reloads every row, and while it starts.
* failover (only when asked): SIGKILL the active ``runscheduler``, time the standby's takeover.

celery-beat runs the same workloads in its own virtualenv (``--beat-python``, by default
``.venv-beat/bin/python``: it declares Django < 6.1): ``DatabaseScheduler`` ticking as
``celery beat`` does, sending to Redis.
Prints a table and writes it to ``bench/results/scale-<timestamp>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
RESULT_MARK = "@@RESULT@@ "
FUNCTION = "benchapp.tasks.noop"
DB_TABLE = "django_tasks_database_dbtaskresult"
#: Redis databases of this benchmark's own: RQ's queue, and celery-beat's broker. Flushed.
RQ_DB, BEAT_DB = 11, 12
#: Seconds from the rows' creation to their slot: the scheduler loads and starts meanwhile.
LEAD = 8
Result = dict[str, Any]


def emit(result: Result) -> None:
    print(RESULT_MARK + json.dumps(result), flush=True)


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "scale_settings"
    import django

    django.setup()
    from autosched.runner import favour_the_loop

    favour_the_loop()  # as manage.py runscheduler does in its own process


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Watcher:
    """Poll ``count()`` from a thread of its own; note when it first reaches each target."""

    def __init__(self, count: Callable[[], int], target: int) -> None:
        self.count, self.target = count, target
        self.first: float | None = None  # time.time() when the first one showed
        self.last: float | None = None  # ... and when all had
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            seen = self.count()
            now = time.time()
            if seen and self.first is None:
                self.first = now
            self.seen = seen
            if seen >= self.target:
                self.last = now
                return
            time.sleep(0.002)

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._stop.set()


def redis_client(db: int) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=db)


# ------------------------------------------------------------------------ autosched children
def make_rows(count: int, *, slot: int, interval: int, **fields: Any) -> None:
    from autosched.models import PeriodicTask

    for first in range(0, count, 5000):
        PeriodicTask.objects.bulk_create(
            PeriodicTask(
                name=f"task-{number:06d}",
                function=FUNCTION,
                interval_seconds=interval,
                offset_seconds=slot % interval if slot else None,
                **fields,
            )
            for number in range(first, min(count, first + 5000))
        )


async def run_runner_until(done: Callable[[], bool], seconds: float) -> Any:
    """Run a ``SchedulerRunner`` until ``done()``, for ``seconds`` at most; return it."""
    from autosched.runner import SchedulerRunner

    runner = SchedulerRunner()
    running = asyncio.create_task(runner.run())
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110 - a thread watches
        await asyncio.sleep(0.05)
    runner.request_stop()
    await running
    return runner


def child_burst(rows: int, backend: str) -> Result:
    """Time ``rows`` worker rows due at one instant until all are in the queue."""
    setup_django()
    from django.db import connection

    if backend == "rq":
        client = redis_client(RQ_DB)
        client.flushdb()

        def count() -> int:
            return int(client.llen("rq:queue:default"))

    else:
        import psycopg

        reader = psycopg.connect(
            host="127.0.0.1", user="postgres", dbname=connection.settings_dict["NAME"]
        )
        reader.autocommit = True

        def count() -> int:
            return int(reader.execute(f"SELECT count(*) FROM {DB_TABLE}").fetchone()[0])  # type: ignore[index]

    slot = math.ceil(time.time()) + LEAD
    make_rows(rows, slot=slot, interval=3600, run_on="worker", tasks_backend=backend)
    connection.close()
    watcher = Watcher(count, rows)
    runner = asyncio.run(run_runner_until(lambda: watcher.last is not None, LEAD + 30))
    watcher.wait(1)
    batcher = runner.sync.batcher
    return {
        "rows": rows,
        "seen": watcher.seen,
        "first_s": None if watcher.first is None else watcher.first - slot,
        "last_s": None if watcher.last is None else watcher.last - slot,
        "batches": batcher.batches,
    }


def child_sustained(rate: int, seconds: int) -> Result:
    """Enqueue ``rate`` runs a second for ``seconds`` s; return the lateness of the commits."""
    setup_django()
    from django.db import connection

    from autosched.runner.bulk import EnqueueBatcher
    from autosched.runner.calls import enqueuer
    from autosched.scheduler import Scheduler, current_slot

    late: list[float] = []
    warm_until = time.time() + 2  # threads, connections and imports warm up first

    def timed(name: str, batcher: EnqueueBatcher) -> Callable[[], Any]:
        enqueue = enqueuer(
            FUNCTION, name, backend="default", queue_name="default", priority=0, batcher=batcher
        )

        async def run() -> None:
            await enqueue()
            slot = current_slot()
            assert slot is not None
            if slot.timestamp() >= warm_until:
                late.append(time.time() - slot.timestamp())

        return run

    async def main() -> EnqueueBatcher:
        scheduler, batcher = Scheduler(), EnqueueBatcher()
        for number in range(rate):
            name = f"s{number}"
            scheduler.add_task(name, timed(name, batcher), 1, offset=number / rate)
        started = asyncio.create_task(scheduler.start())
        await asyncio.sleep(2 + seconds)
        scheduler.stop()
        await started
        batcher.close()
        return batcher

    batcher = asyncio.run(main())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DB_TABLE}")
        committed = cursor.fetchone()[0]
    return {
        "rate": rate,
        "seconds": seconds,
        "measured": len(late),
        "per_second": len(late) / seconds,
        "committed": committed,
        "p50_ms": percentile(late, 0.5) * 1000,
        "p99_ms": percentile(late, 0.99) * 1000,
        "max_ms": max(late) * 1000,
        "batches": batcher.batches,
        "runs": batcher.runs,
    }


def child_reload(rows: int) -> Result:
    """Return the longest loop stalls while a runner starts with ``rows`` rows, and reloads."""
    setup_django()
    from django.db import connection

    from autosched.runner import SchedulerRunner
    from autosched.runner.sync import TaskSync
    from autosched.scheduler import Scheduler

    make_rows(rows, slot=0, interval=3600)
    connection.close()
    stalls: list[tuple[float, float]] = []  # (when it ended, how long the loop was held)
    marks: dict[str, float] = {}
    collections: list[tuple[float, float]] = []  # (when each full collection ended, its time)
    collecting: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                collecting[:] = [time.perf_counter()]
            elif collecting:
                ended = time.perf_counter()
                collections.append((ended, ended - collecting[0]))

    gc.callbacks.append(on_gc)

    async def probe() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            after = time.perf_counter()
            stalls.append((after, after - before - 0.001))

    def longest(start: str, end: str) -> float:
        return max(s for at, s in stalls if marks[start] <= at <= marks[end] + 0.1) * 1000

    async def main() -> Any:
        probing = asyncio.create_task(probe())
        runner = SchedulerRunner()
        apply = runner.sync.apply_in_slices

        async def marked(*args: Any, **kwargs: Any) -> None:
            marks.setdefault("apply_start", time.perf_counter())
            await apply(*args, **kwargs)
            marks.setdefault("apply_end", time.perf_counter())

        runner.sync.apply_in_slices = marked  # type: ignore[method-assign]
        marks["start"] = time.perf_counter()
        running = asyncio.create_task(runner.run())
        async with asyncio.timeout(60):
            while not runner.scheduler.is_running():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        marks["started"] = time.perf_counter()
        # The next sync reads every row, as after a database outage.
        marks.pop("apply_start"), marks.pop("apply_end")
        runner.sync.revision = None
        async with asyncio.timeout(60):
            while "apply_end" not in marks:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        # The status of every task, written as the publisher's thread writes it.
        marks["publish_start"] = time.perf_counter()
        await asyncio.to_thread(runner.publisher.publish_tasks)
        marks["publish_end"] = time.perf_counter()
        await asyncio.sleep(0.1)
        runner.request_stop()
        await running
        probing.cancel()
        return runner

    runner = asyncio.run(main())
    # The same full reload applied in one go, as before: how long it would hold the loop.
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    changes = sync.reload()
    started = time.perf_counter()
    sync.apply(scheduler, changes)
    in_one_go = time.perf_counter() - started
    connection.close()
    return {
        "rows": rows,
        "tasks": len(runner.scheduler.tasks),
        "reload_stall_ms": longest("apply_start", "apply_end"),
        "reload_apply_s": marks["apply_end"] - marks["apply_start"],
        "start_stall_ms": longest("start", "started"),
        "publish_stall_ms": longest("publish_start", "publish_end"),
        "publish_s": marks["publish_end"] - marks["publish_start"],
        "in_one_go_ms": in_one_go * 1000,
        "full_gcs": len(collections),
        "longest_gc_ms": max((took for _, took in collections), default=0) * 1000,
        "publish_gcs_ms": [
            round(took * 1000)
            for at, took in collections
            if marks["publish_start"] <= at <= marks["publish_end"] + 0.1
        ],
    }


def failover(kills: int) -> list[float]:
    """Return the seconds from each SIGKILL of the active process to the standby's takeover."""
    import random

    sys.path.insert(0, str(ROOT))
    os.environ["AUTOSCHED_TEST_DB"] = "postgres"
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
            time.sleep(random.uniform(0, 2))  # at a random point of the renewal cycle
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


# ------------------------------------------------------------------------------------ parent
def postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        conn.execute(sql)


def run_child(python: str, script: str, settings: str, args: list[str]) -> Result:
    """Run one measure in a fresh process on a fresh database; return its result."""
    name = f"autosched_scale_{args[0].replace('-', '_')}_{os.getpid()}"
    postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    postgres(f"CREATE DATABASE {name}")
    env = {
        **os.environ,
        "BENCH_DB_VENDOR": "postgres",
        "BENCH_DB_NAME": name,
        "BENCH_RQ_DB": str(RQ_DB),
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(ROOT)]),
        "PYTHONWARNINGS": "ignore",
    }
    try:
        migrate = [python, "-m", "django", "migrate", "-v0", f"--settings={settings}"]
        subprocess.run(migrate, env=env, cwd=ROOT, check=True)
        command = [python, str(BENCH_DIR / script), "--child", *args]
        proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if RESULT_MARK not in proc.stdout:
            return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
        return json.loads(proc.stdout.split(RESULT_MARK, 1)[1])  # type: ignore[no-any-return]
    finally:
        postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value:,}{unit}"


def table(ours: dict[str, Result], beat: dict[str, Result], args: argparse.Namespace) -> list[str]:
    def verdict(ok: bool | None) -> str:
        return "" if ok is None else ("ok" if ok else "MISSED")

    rows: list[tuple[str, str, str, str]] = [("", "autosched", "celery-beat 2.9", "target")]

    def burst(key: str, limit: float, title: str) -> None:
        a, b = ours.get(key), beat.get(key)
        if a is None and b is None:
            return
        last = a.get("last_s") if a else None
        rows.append((
            f"{title}: all {args.rows:,} in the queue after the slot (s)",
            fmt(last) if a and "error" not in a else (a or {}).get("error", "-"),
            beat_burst(b),
            f"<= {limit:g} s  {verdict(None if last is None else last <= limit)}",
        ))  # fmt: skip
        if a and "error" not in a:
            rows.append((
                "  first in the queue (s) / batches", f"{fmt(a['first_s'])} / {a['batches']}",
                "", "",
            ))  # fmt: skip

    def beat_burst(b: Result | None) -> str:
        if not b:
            return "not run"
        if "error" in b:
            return "error"
        if b.get("last_s") is not None:
            return fmt(b["last_s"])
        return f"{b['seen']:,} of {b['rows']:,} in {b['cap_s']:g} s"

    burst("burst", 2, "burst to django-tasks-db")
    a, b = ours.get("sustained"), beat.get("sustained")
    if a is not None or b is not None:

        def sustained(r: Result | None) -> str:
            if not r:
                return "not run"
            if "error" in r:
                return "error"
            rate = f"{r['per_second']:,.0f}/s"
            if r.get("p99_ms") is None:
                return rate
            return f"{rate}, {r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['max_ms']:.0f}"

        p99 = a.get("p99_ms") if a else None
        ok = None if p99 is None else p99 <= 100 and a["per_second"] >= 0.99 * args.rate  # type: ignore[index]
        rows.append((
            f"sustained {args.rate:,}/s for {args.seconds} s: rate, lateness p50/p99/max (ms)",
            sustained(a), sustained(b), f"p99 <= 100 ms  {verdict(ok)}",
        ))  # fmt: skip
        if a and "error" not in a:
            rows.append((
                "  committed / batches", f"{a['committed']:,} / {a['batches']:,}", "", "",
            ))  # fmt: skip
    burst("rq", 3, "burst to RQ (django-tasks-rq)")
    a, b = ours.get("reload"), beat.get("reload")
    if a is not None or b is not None:
        stall = a.get("reload_stall_ms") if a else None
        rows.append((
            f"{args.reload_rows:,} rows: longest loop stall in a full reload (ms)",
            fmt(stall, 0) if a and "error" not in a else "error",
            fmt(b.get("reload_tick_ms"), 0) + " (tick)" if b and "error" not in b else "-",
            f"<= 50 ms  {verdict(None if stall is None else stall <= 50)}",
        ))  # fmt: skip
        if a and "error" not in a:
            rows.append((
                "  the same reload in one call to apply(), unsliced (ms)",
                fmt(a["in_one_go_ms"], 0), "", "",
            ))  # fmt: skip
            rows.append((
                "  longest stall while the tasks' status is published (ms)",
                fmt(a["publish_stall_ms"], 0), "", "",
            ))  # fmt: skip
            rows.append((
                "  longest stall while the runner starts (ms)", fmt(a["start_stall_ms"], 0),
                fmt(b.get("startup_tick_ms"), 0) + " (first tick)" if b and "error" not in b
                else "-", "",
            ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for side, results in (("autosched", ours), ("celery-beat", beat)):
        for key, result in results.items():
            if "error" in result:
                lines.append(f"{side} {key} error: {result['error']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="burst,sustained,rq,reload")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--reload-rows", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--no-beat", action="store_true")
    parser.add_argument("--beat-python", default=str(ROOT / ".venv-beat" / "bin" / "python"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "burst":
            emit(child_burst(int(rest[0]), rest[1]))
        elif kind == "sustained":
            emit(child_sustained(int(rest[0]), int(rest[1])))
        elif kind == "reload":
            emit(child_reload(int(rest[0])))
        return 0

    only = args.only.split(",")
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    ours: dict[str, Result] = {}
    beat: dict[str, Result] = {}
    me, theirs = sys.executable, args.beat_python
    if not args.no_beat and not Path(theirs).exists():
        parser.error(
            f"no celery-beat virtualenv at {theirs}: make it (see bench/README.md), name it "
            "with --beat-python, or pass --no-beat"
        )
    redis_client(BEAT_DB).flushdb()
    children = {
        "burst": (["burst", str(args.rows), "default"], ["burst", str(args.rows)]),
        "sustained": (["sustained", str(args.rate), str(args.seconds)],) * 2,
        "rq": (["burst", str(args.rows), "rq"], None),
        "reload": (["reload", str(args.reload_rows)],) * 2,
    }
    for measure in only:
        if measure not in children:
            continue
        mine, beats = children[measure]
        ours[measure] = run_child(me, "scale.py", "scale_settings", mine)
        if beats is not None and not args.no_beat:
            beat[measure] = run_child(theirs, "scale_beat.py", "beat_settings", beats)
    import django

    versions = subprocess.run(
        [theirs, "-c", "import celery, django; print(celery.__version__, django.get_version())"],
        capture_output=True, text=True, check=False,
    ).stdout.split() if beat else []  # fmt: skip
    lines = [
        "autosched scale benchmark: enqueue mode on PostgreSQL 127.0.0.1:5432 (django-tasks-db), "
        "RQ and celery-beat's broker on Redis 127.0.0.1:6379",
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{os.cpu_count()} CPUs, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"took {time.monotonic() - started:.0f} s; "
        f"load avg before {load_before:.2f}, after {os.getloadavg()[0]:.2f}",
    ]
    if beat and len(versions) == 2:
        lines.append(f"celery-beat 2.9 under celery {versions[0]}, Django {versions[1]}")
    lines.append("")
    if "failover" in only:
        times = failover(args.kills)
        lines.append(
            f"failover after SIGKILL, {len(times)} kills: median / max (s) "
            f"{statistics.median(times):.2f} / {max(times):.2f}"
        )
    lines += table(ours, beat, args)
    raw = json.dumps({"autosched": ours, "celery-beat": beat}, indent=1)
    text = "\n".join(lines)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"scale-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.txt"
    path.write_text(f"{text}\n\n{raw}\n", encoding="utf-8")
    print(f"\nSaved to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
