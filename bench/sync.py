"""Benchmark of runscheduler's database sync against django-celery-beat 2.9's DatabaseScheduler.

    python bench/sync.py [--rows 100000] [--db sqlite|postgres] [--edits 100] [--no-beat]

Each side runs in a fresh child process on a database of its own (a SQLite file in a temp
dir, or a fresh PostgreSQL database), filled with ``--rows`` interval tasks (every hour, so
nothing runs meanwhile). autosched: the first sync (read every row + add every task to a
Scheduler), the cost of an idle poll, and the latency from the commit of a single-row edit
made by another process to the moment the running SchedulerRunner (default sync interval)
has applied it. celery-beat: DatabaseScheduler startup (constructor + first tick), RSS
growth, idle tick, and the time from saving an edited task until its new interval is in the
in-memory schedule (ticking back to back, its best case). One table is printed and saved to
bench/results/sync-<timestamp>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
RESULT_MARK = "@@RESULT@@ "
FUNCTION = "benchapp.tasks.noop"
HOUR = 3600
Result = dict[str, Any]


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def emit(result: Result) -> None:
    print(RESULT_MARK + json.dumps(result), flush=True)


def setup_django(settings: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    import django

    django.setup()


# ---------------------------------------------------------------------------- autosched child
def fill_autosched(rows: int) -> float:
    from autosched.models import PeriodicTask

    started = time.perf_counter()
    batch = 5000
    for first in range(0, rows, batch):
        PeriodicTask.objects.bulk_create(
            PeriodicTask(name=f"task-{i:06d}", function=FUNCTION, interval_seconds=HOUR)
            for i in range(first, min(rows, first + batch))
        )
    return time.perf_counter() - started


def child_autosched(rows: int, edits: int, polls: int) -> Result:
    setup_django("sync_settings")
    from django.db import connection

    from autosched.defaults import sync_defaults
    from autosched.runner.sync import TaskSync
    from autosched.scheduler import Scheduler

    out: Result = {"fill_s": fill_autosched(rows)}
    connection.close()
    rss_before = rss_mb()
    started = time.perf_counter()
    sync_defaults()
    sync = TaskSync()
    changes = sync.reload()
    loaded = time.perf_counter()
    scheduler = Scheduler()
    sync.apply(scheduler, changes)
    done = time.perf_counter()
    out.update(
        first_sync_s=done - started,
        load_s=loaded - started,
        apply_s=done - loaded,
        tasks=len(scheduler.tasks),
        rss_growth_mb=rss_mb() - rss_before,
    )
    sync.poll()  # the first poll also prunes old changes
    times = []
    for _ in range(polls):
        before = time.perf_counter()
        assert not sync.poll()
        times.append((time.perf_counter() - before) * 1000)
    out.update(idle_p50_ms=percentile(times, 0.5), idle_p99_ms=percentile(times, 0.99))
    del scheduler, sync, changes
    connection.close()
    out.update(asyncio.run(measure_edits(edits)))
    return out


async def measure_edits(edits: int) -> Result:
    from autosched.runner import SchedulerRunner
    from autosched.scheduler import Scheduler

    applied: dict[tuple[str, int], float] = {}

    class TimedScheduler(Scheduler):
        """Note when each retime reaches the scheduler."""

        def update_task_interval(self, name: str, interval_seconds: int | float) -> None:
            super().update_task_interval(name, interval_seconds)
            applied[(name, int(interval_seconds))] = time.monotonic()

    runner = SchedulerRunner(scheduler=TimedScheduler())
    await runner.load()
    running = asyncio.create_task(runner.run())
    editor = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", "editor", "--edits", str(edits),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await editor.communicate()
    committed = json.loads(stdout.decode().split(RESULT_MARK, 1)[1])["edits"]
    # The last edits may still be on their way: give them up to three sync intervals.
    deadline = time.monotonic() + 3 * runner.sync_interval
    while len(applied) < len(committed) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    runner.request_stop()
    await running
    latencies = [
        applied[(name, interval)] - at
        for name, interval, at in committed
        if (name, interval) in applied
    ]
    return {
        "sync_interval_s": runner.sync_interval,
        "edits": len(committed),
        "edits_applied": len(latencies),
        "edit_p50_s": percentile(latencies, 0.5),
        "edit_p99_s": percentile(latencies, 0.99),
        "edit_max_s": max(latencies),
    }


def child_editor(edits: int) -> Result:
    """Retime ``edits`` random rows, one commit each, at random gaps; report commit times."""
    setup_django("sync_settings")
    from autosched.models import PeriodicTask

    tasks = dict(PeriodicTask.objects.values_list("id", "name"))
    chosen = random.sample(sorted(tasks), edits)
    done = []
    for number, task_id in enumerate(chosen):
        time.sleep(random.uniform(0.05, 0.25))  # spread the commits over the sync cycle
        interval = 2 * HOUR + number
        PeriodicTask.objects.filter(id=task_id).update(interval_seconds=interval)
        done.append((tasks[task_id], interval, time.monotonic()))  # autocommit: committed
    return {"edits": done}


# --------------------------------------------------------------------------------- beat child
def child_beat(rows: int, edits: int, ticks: int) -> Result:
    setup_django("beat_settings")
    from celery import Celery  # type: ignore[import-untyped]
    from django.db import connection
    from django_celery_beat.models import (  # type: ignore[import-untyped]
        IntervalSchedule,
        PeriodicTask,
        PeriodicTasks,
    )
    from django_celery_beat.schedulers import DatabaseScheduler  # type: ignore[import-untyped]

    started = time.perf_counter()
    every_hour = IntervalSchedule.objects.create(every=HOUR, period=IntervalSchedule.SECONDS)
    batch = 5000
    for first in range(0, rows, batch):
        PeriodicTask.objects.bulk_create(
            PeriodicTask(name=f"task-{i:06d}", task="bench.noop", interval=every_hour)
            for i in range(first, min(rows, first + batch))
        )
    PeriodicTasks.update_changed()
    out: Result = {"fill_s": time.perf_counter() - started}
    connection.close()

    app = Celery("bench", broker="memory://", set_as_current=True)
    rss_before = rss_mb()
    started = time.perf_counter()
    beat = DatabaseScheduler(app=app, lazy=False)
    beat.tick()
    out.update(startup_s=time.perf_counter() - started, rss_growth_mb=rss_mb() - rss_before)
    times = []
    for _ in range(ticks):
        before = time.perf_counter()
        beat.tick()
        times.append((time.perf_counter() - before) * 1000)
    out.update(idle_p50_ms=percentile(times, 0.5), idle_p99_ms=percentile(times, 0.99))

    latencies = []
    for number in range(edits):
        name = f"task-{random.randrange(rows):06d}"
        seconds = 2 * HOUR + number
        schedule = IntervalSchedule.objects.create(every=seconds, period=IntervalSchedule.SECONDS)
        task = PeriodicTask.objects.get(name=name)
        task.interval = schedule
        task.save()  # its signal marks the schedule as changed
        committed = time.monotonic()
        while beat.schedule[name].schedule.run_every != dt.timedelta(seconds=seconds):
            beat.tick()
        latencies.append(time.monotonic() - committed)
    out.update(edits=edits, edit_p50_s=statistics.median(latencies), edit_max_s=max(latencies))
    return out


# ------------------------------------------------------------------------------------ parent
def postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        conn.execute(sql)


def run_side(side: str, args: argparse.Namespace, workdir: Path) -> Result:
    settings = "sync_settings" if side == "autosched" else "beat_settings"
    if args.db == "postgres":
        name = f"autosched_bench_{side}_{os.getpid()}"
        postgres(f"DROP DATABASE IF EXISTS {name}")
        postgres(f"CREATE DATABASE {name}")
    else:
        name = str(workdir / f"{side}.sqlite3")
    env = {
        **os.environ,
        "BENCH_DB_VENDOR": args.db,
        "BENCH_DB_NAME": name,
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(REPO_ROOT)]),
        "PYTHONWARNINGS": "ignore",
    }
    try:
        migrate = [sys.executable, "-m", "django", "migrate", "-v0", f"--settings={settings}"]
        subprocess.run(migrate, env=env, cwd=REPO_ROOT, check=True)
        edits = args.edits if side == "autosched" else args.beat_edits
        command = [sys.executable, __file__, "--child", side]
        command += ["--rows", str(args.rows), "--edits", str(edits)]
        proc = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        if RESULT_MARK not in proc.stdout:
            return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
        return json.loads(proc.stdout.split(RESULT_MARK, 1)[1])  # type: ignore[no-any-return]
    finally:
        if args.db == "postgres":
            postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def table(ours: Result, beat: Result | None, args: argparse.Namespace) -> str:
    import django

    def cell(result: Result | None, *keys: str, unit: str = "", digits: int = 2) -> str:
        if result is None:
            return "not run"
        if "error" in result:
            return "error"
        return " / ".join(f"{result[key]:.{digits}f}" for key in keys) + unit

    ok = "ok" if ours.get("first_sync_s", 99) <= 2 else "MISSED"
    idle_ok = "ok" if ours.get("idle_p99_ms", 99) <= 5 else "MISSED"
    edit_ok = "ok" if ours.get("edit_p99_s", 99) <= 1 else "MISSED"
    rows = [
        ("", "autosched", "celery-beat 2.9", "target"),
        ("startup: first sync (s)", cell(ours, "first_sync_s"), cell(beat, "startup_s"),
         f"<= 2 s  {ok}"),
        ("  read rows / add to Scheduler (s)", cell(ours, "load_s", "apply_s"), "", ""),
        ("RSS growth at startup (MB)", cell(ours, "rss_growth_mb", digits=0),
         cell(beat, "rss_growth_mb", digits=0), ""),
        ("idle sync p50 / p99 (ms)", cell(ours, "idle_p50_ms", "idle_p99_ms", digits=3),
         cell(beat, "idle_p50_ms", "idle_p99_ms", digits=1), f"p99 <= 5 ms  {idle_ok}"),
        ("edit in effect p50 / p99 / max (s)",
         cell(ours, "edit_p50_s", "edit_p99_s", "edit_max_s", digits=3),
         cell(beat, "edit_p50_s", "edit_max_s") + (" (p50 / max)" if beat else ""),
         f"p99 <= 1 s  {edit_ok}"),
        ("  edits applied / made", f"{ours.get('edits_applied')} / {ours.get('edits')}",
         str(beat.get("edits", "")) if beat else "", ""),
        ("fill the table (s, not timed)", cell(ours, "fill_s", digits=1),
         cell(beat, "fill_s", digits=1), ""),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"autosched sync benchmark: {args.rows:,} rows on {args.db}; autosched sync interval "
        f"{ours.get('sync_interval_s', '?')} s; {args.edits} edits from another process "
        f"(celery-beat: {args.beat_edits}, ticking back to back)",
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{os.cpu_count()} CPUs, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for side, result in (("autosched", ours), ("celery-beat", beat)):
        if result and "error" in result:
            lines.append(f"{side} error: {result['error']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--beat-edits", type=int, default=3)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--no-beat", action="store_true")
    parser.add_argument("--child", choices=["autosched", "editor", "beat"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "autosched":
        emit(child_autosched(args.rows, args.edits, args.polls))
    elif args.child == "editor":
        emit(child_editor(args.edits))
    elif args.child == "beat":
        emit(child_beat(args.rows, args.edits, ticks=20))
    else:
        with tempfile.TemporaryDirectory(prefix="autosched-bench-") as workdir:
            ours = run_side("autosched", args, Path(workdir))
            beat = None if args.no_beat else run_side("beat", args, Path(workdir))
        text = table(ours, beat, args)
        print(text)
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        raw = json.dumps({"autosched": ours, "celery-beat": beat}, indent=1)
        (RESULTS_DIR / f"sync-{stamp}.txt").write_text(f"{text}\n\n{raw}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
