"""Benchmark of schedules across restarts: autosched against APScheduler 3 and celery-beat.

    python bench/restart.py [--scale 5] [--tasks 1000] [--grace 0] [--no-beat]

The restart workload: a 60 s task, its scheduler restarted every 40 s for 600 s (10 slots).
Every scheduler runs as real processes, with time scaled down ``--scale`` times (5: a 12 s
task, a restart every 8 s, for 120 s); a restart is SIGTERM, wait for the exit, start anew.

- autosched: ``manage.py runscheduler`` on SQLite, one row with offset NULL (spread), running
  a function that appends its start and its slot to a file.
- APScheduler 3: a ``BlockingScheduler`` whose job (``add_job(func, "interval", ...)``, the
  default start date) is added at process start; it too appends its start to a file.
- django-celery-beat: ``celery beat`` (``app.Beat().run()``, what the command runs) with its
  ``DatabaseScheduler`` on SQLite, sending to kombu's filesystem broker; a run is a message.

Each is run twice, in two phases: with the task's slots clear of the restarts' downtimes, and
with every other slot inside one (0.2 s after a SIGTERM). celery-beat's row is created with
``last_run_at`` one interval before autosched's first slot, so both are due at the same times
after a restart. All six workloads run at once, their restarts spread over the period.

Then, for ``--tasks`` hourly tasks created together with default settings: the most tasks due
in any one second after a start, as each scheduler computes it (autosched: the next_run of
each task of a started SchedulerRunner; APScheduler: each job's next_run_time; celery-beat:
what each DatabaseScheduler entry's is_due() says after the first tick).

One table is printed and saved to bench/results/restart-<timestamp>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
RESULT_MARK = "@@RESULT@@ "
READY_MARK = "@@READY@@"
Result = dict[str, Any]

# The workload at full scale (seconds).
TASK_INTERVAL = 60
RESTART_EVERY = 40
DURATION = 600
HOUR = 3600
#: Those that keep the task's interval whole seconds and a slot clear of a ~1 s downtime.
SCALES = (1, 2, 4, 5, 10)
DEFAULT_SCALE = 5
#: Where a slot falls after a restart: a share of the restart period (full scale: 14 s, and
#: 34 s for the next slot), or real seconds after the SIGTERM, inside the downtime. At 5x the
#: clear slots come 2.8 s after a restart (which takes about 1 s) and 1.2 s before the next;
#: at 10x, 1.4 s and 0.6 s, which the slower restarts of a busy machine miss.
CLEAR_SHARE = 0.35
IN_DOWNTIME = 0.2
PHASES = ("clear", "downtime")

SIDES = ("autosched", "apscheduler", "beat")
TASK_NAME = "restart-bench"
AUTOSCHED_FUNCTION = "restart_tasks.record"
BEAT_TASK = "bench.tick"
BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
STOP_TIMEOUT = 15.0  # seconds a process may take to exit after SIGTERM before it is killed
#: The line in each scheduler's output that says it is scheduling: the end of a downtime.
READY_LINES = {
    "autosched": "Scheduler started with",
    "apscheduler": READY_MARK,
    "beat": "beat: Waking up",
}


def emit(result: Result) -> None:
    print(RESULT_MARK + json.dumps(result), flush=True)


def setup_django(settings: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    import django

    django.setup()


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


# ----------------------------------------------------------------------------- child processes
def child_setup_autosched(interval: int) -> Result:
    """Create the restart workload's row (offset NULL); return the offset autosched gives it."""
    setup_django("restart_settings")
    from autosched.models import PeriodicTask
    from autosched.schedule import effective_offset

    row = PeriodicTask.objects.create(
        name=TASK_NAME, function=AUTOSCHED_FUNCTION, interval_seconds=interval
    )
    return {"offset": effective_offset(row.name, row.interval_seconds, row.offset_seconds)}


def child_apscheduler(interval: int) -> None:
    """One APScheduler process of the restart workload: the job is added at its start."""
    from apscheduler.events import EVENT_SCHEDULER_STARTED  # type: ignore[import-untyped]
    from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]

    runs_file = os.environ["BENCH_RUNS_FILE"]

    def record() -> None:
        with open(runs_file, "a", encoding="ascii") as runs:
            runs.write(f"{time.time():.6f}\n")

    scheduler = BlockingScheduler(timezone=dt.UTC)
    scheduler.add_job(record, "interval", seconds=interval, id=TASK_NAME)
    scheduler.add_listener(lambda _: print(READY_MARK, flush=True), EVENT_SCHEDULER_STARTED)
    scheduler.start()  # SIGTERM ends the process, as it ends most deployments' schedulers


def beat_app(broker_dir: str | None = None) -> Any:
    from celery import Celery  # type: ignore[import-untyped]

    if broker_dir is None:
        return Celery("bench", broker="memory://", set_as_current=True)
    app = Celery("bench", broker="filesystem://", set_as_current=True)
    app.conf.broker_transport_options = {
        "data_folder_in": broker_dir,
        "data_folder_out": broker_dir,
    }
    app.conf.timezone = "UTC"
    return app


def child_beat(interval: int, last_run: float | None) -> None:
    """One celery beat process; the first creates the row, as if it last ran at ``last_run``."""
    setup_django("beat_settings")
    from django_celery_beat.models import (  # type: ignore[import-untyped]
        IntervalSchedule,
        PeriodicTask,
    )

    if last_run is not None:
        every = IntervalSchedule.objects.create(every=interval, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(
            name=TASK_NAME,
            task=BEAT_TASK,
            interval=every,
            last_run_at=dt.datetime.fromtimestamp(last_run, dt.UTC),
        )
    app = beat_app(os.environ["BENCH_BROKER_DIR"])
    # What `celery beat -S django_celery_beat.schedulers:DatabaseScheduler` runs; at DEBUG it
    # logs "Waking up" after every tick, the first of which ends the downtime.
    app.Beat(scheduler=BEAT_SCHEDULER, loglevel="DEBUG", quiet=True).run()


def child_hourly_autosched(tasks: int) -> Result:
    """Start a SchedulerRunner on ``tasks`` hourly rows (offset NULL); return their next runs."""
    setup_django("restart_settings")
    from autosched.models import PeriodicTask

    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"task-{i:05d}", function=AUTOSCHED_FUNCTION, interval_seconds=HOUR)
        for i in range(tasks)
    )
    return asyncio.run(started_autosched())


async def started_autosched() -> Result:
    from autosched.runner import SchedulerRunner

    runner = SchedulerRunner()
    running = asyncio.create_task(runner.run())
    async with asyncio.timeout(30):
        while not runner.scheduler.is_running():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    started = time.time()
    status = runner.scheduler.get_all_tasks_status()
    runner.request_stop()
    await running
    due = [dt.datetime.fromisoformat(task["next_run"]).timestamp() for task in status.values()]
    return {"started": started, "due": due}


def child_hourly_apscheduler(tasks: int) -> Result:
    """Add ``tasks`` hourly interval jobs and start APScheduler; return their next run times."""
    from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

    scheduler = BackgroundScheduler(timezone=dt.UTC)
    for i in range(tasks):
        scheduler.add_job(print, "interval", seconds=HOUR, id=f"task-{i:05d}")
    scheduler.start()
    started = time.time()
    due = [job.next_run_time.timestamp() for job in scheduler.get_jobs()]
    scheduler.shutdown(wait=False)
    return {"started": started, "due": due}


def child_hourly_beat(tasks: int) -> Result:
    """Start a DatabaseScheduler on ``tasks`` hourly rows; return when each entry is due."""
    setup_django("beat_settings")
    from django_celery_beat.models import (  # type: ignore[import-untyped]
        IntervalSchedule,
        PeriodicTask,
        PeriodicTasks,
    )
    from django_celery_beat.schedulers import DatabaseScheduler  # type: ignore[import-untyped]

    every_hour = IntervalSchedule.objects.create(every=HOUR, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"task-{i:05d}", task=BEAT_TASK, interval=every_hour)
        for i in range(tasks)
    )
    PeriodicTasks.update_changed()
    beat = DatabaseScheduler(app=beat_app(), lazy=False)
    beat.tick()
    started = time.time()
    due = []
    for name, entry in beat.schedule.items():
        if name.startswith("task-"):
            now = time.time()
            state = entry.is_due()
            due.append(now if state.is_due else now + state.next)
    return {"started": started, "due": due}


# ------------------------------------------------------------------- restarting the schedulers
@dataclass
class Workload:
    """One scheduler restarted on a fixed period: how to start it, and what it did."""

    side: str
    command: Callable[[int], list[str]]  # process number -> command line
    env: dict[str, str]
    start: float  # epoch time the first process is started
    first_slot: float  # epoch time the task is first due
    processes: list[Result] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def run_process(work: Workload, number: int, stop_at: float) -> None:
    """Run one process of ``work`` until ``stop_at`` (epoch), then SIGTERM it and wait."""
    spawned = time.time()
    proc = await asyncio.create_subprocess_exec(
        *work.command(number),
        env=work.env,
        cwd=work.env["BENCH_WORKDIR"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out: Result = {"spawned": spawned, "ready": None}
    tail: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if out["ready"] is None and READY_LINES[work.side] in line:
                out["ready"] = time.time()
            tail[:] = [*tail[-19:], line]

    reader = asyncio.create_task(read())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), max(0.0, stop_at - time.time()))
    if proc.returncode is not None:
        work.errors.append(f"process {number} exited early ({proc.returncode}): {tail[-3:]}")
    else:
        out["stop_sent"] = time.time()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            work.errors.append(f"process {number} ignored SIGTERM for {STOP_TIMEOUT:g} s")
        out["exited"] = time.time()
    await reader
    if out["ready"] is None:
        work.errors.append(f"process {number} never said it was scheduling: {tail[-3:]}")
    work.processes.append(out)


async def restart_loop(work: Workload, processes: int, period: float) -> None:
    """Start ``work``'s scheduler, and restart it every ``period`` s: ``processes`` in all."""
    await asyncio.sleep(max(0.0, work.start - time.time()))
    for number in range(processes):
        await run_process(work, number, work.start + (number + 1) * period)


def read_runs(path: Path) -> list[list[float]]:
    """Return the runs a file holds: [start] or [start, slot], in epoch seconds."""
    if not path.exists():
        return []
    return [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line]


def beat_runs(broker_dir: Path) -> list[list[float]]:
    """Return the send time (the file's mtime) of each message celery-beat sent for the task."""
    runs = []
    for message in broker_dir.glob("*.msg"):
        body = json.loads(message.read_text())
        if body.get("headers", {}).get("task") == BEAT_TASK:
            runs.append([message.stat().st_mtime])
    return runs


def summarize(work: Workload, runs: list[list[float]], scale: int) -> Result:
    """Count the runs inside the workload's window against the slots that fell in it."""
    interval, end = TASK_INTERVAL / scale, work.start + DURATION / scale
    runs = sorted(run for run in runs if work.start < run[0] <= end)
    starts = [run[0] for run in runs]
    gaps = [(b - a) * scale for a, b in itertools.pairwise(starts)]
    slots = math.floor((end - work.first_slot) / interval) + 1
    # A run's slot: the one autosched passed it, else the latest slot at or before its start
    # on the grid the task had when the workload began.
    own = [run[1] if len(run) > 1 else None for run in runs]
    nominal = [
        slot
        if slot is not None
        else work.first_slot + interval * math.floor((start - work.first_slot) / interval + 1e-6)
        for start, slot in zip(starts, own, strict=True)
    ]
    done = work.processes
    return {
        "runs": len(runs),
        "expected": slots,
        "gap_min_s": min(gaps, default=None),
        "gap_max_s": max(gaps, default=None),
        "late_max_ms": max(
            ((s - n) * 1000 for s, n in zip(starts, nominal, strict=True)), default=None
        ),
        "slots_run_twice": len(nominal) - len(set(nominal)),
        "downtimes_s": [
            new["ready"] - old["stop_sent"]
            for old, new in itertools.pairwise(done)
            if new["ready"] is not None and "stop_sent" in old
        ],
        "run_times": [round(s - work.start, 3) for s in starts],
        "errors": work.errors,
    }


# ------------------------------------------------------------------------------------ parent
def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def side_env(workdir: Path, name: str, **extra: str) -> dict[str, str]:
    """Return the environment of a child working on database ``name`` in ``workdir``."""
    return {
        **os.environ,
        "BENCH_DB_VENDOR": "sqlite",
        "BENCH_DB_NAME": str(workdir / f"{name}.sqlite3"),
        "BENCH_WORKDIR": str(workdir),
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(REPO_ROOT)]),
        "PYTHONWARNINGS": "ignore",
        **extra,
    }


def run_child(env: dict[str, str], *args: str) -> Result:
    command = python(__file__, "--child", *args)
    proc = subprocess.run(
        command, env=env, cwd=env["BENCH_WORKDIR"], capture_output=True, text=True
    )
    if RESULT_MARK not in proc.stdout:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(proc.stdout.split(RESULT_MARK, 1)[1])  # type: ignore[no-any-return]


def migrate(workdir: Path, settings: str, name: str) -> None:
    command = python("-m", "django", "migrate", "-v0", f"--settings={settings}")
    subprocess.run(command, env=side_env(workdir, name), cwd=workdir, check=True)


def copy_db(workdir: Path, source: str, *copies: str) -> None:
    for copy in copies:
        shutil.copy(workdir / f"{source}.sqlite3", workdir / f"{copy}.sqlite3")


def most_in_one_second(result: Result) -> Result:
    """Return the most due times within any one second, and when they fall after the start."""
    if "error" in result:
        return result
    due = sorted(result["due"])
    most, first = 0, 0
    for last, moment in enumerate(due):
        while moment - due[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    started = result["started"]
    return {
        "tasks": len(due),
        "most": most,
        "first_s": due[0] - started,
        "last_s": due[-1] - started,
    }


def command_line(side: str, interval: int, last_run: float) -> Callable[[int], list[str]]:
    """Return how to start process number n of a side's restart workload."""
    child = python(__file__, "--child")

    def command(number: int) -> list[str]:
        if side == "autosched":
            return python("-m", "django", "runscheduler", "--settings=restart_settings", "-v1")
        if side == "apscheduler":
            return [*child, "apscheduler", "--interval", str(interval)]
        # The first celery beat process creates the row.
        created = ["--last-run", repr(last_run)] if number == 0 else []
        return [*child, "beat", "--interval", str(interval), *created]

    return command


def workloads(args: argparse.Namespace, workdir: Path, offset: int) -> dict[str, Workload]:
    """Return the six workloads, keyed "side/phase", with their start times."""
    interval, period = TASK_INTERVAL // args.scale, RESTART_EVERY / args.scale
    after = {"clear": CLEAR_SHARE * period, "downtime": IN_DOWNTIME}
    # Where the slots fall after the restarts depends only on the start time modulo
    # gcd(interval, restart period): autosched's first process starts when its row's slots
    # fall ``after`` a restart (and half a period later), so every run sees the same phases.
    # The other schedulers follow a quarter and half a period later, spreading the startups.
    step = math.gcd(TASK_INTERVAL, RESTART_EVERY) / args.scale
    soon = time.time() + 1.0
    out = {}
    for phase in PHASES:
        start = offset - after[phase]
        start += step * math.ceil((soon - start) / step)
        # The slots of autosched's row after its start; the others are due at the same times
        # after theirs.
        first_slot = offset + interval * (math.floor((start - offset) / interval) + 1)
        for side, shift in zip(SIDES, (0.0, period / 4, period / 2), strict=True):
            if side == "beat" and args.no_beat:
                continue
            name = f"{side}-{phase}"
            env = side_env(
                workdir,
                name,
                BENCH_RUNS_FILE=str(workdir / f"{name}.runs"),
                BENCH_BROKER_DIR=str(workdir / f"{name}.broker"),
            )
            if side == "beat":
                (workdir / f"{name}.broker").mkdir()
            command = command_line(side, interval, last_run=first_slot + shift - interval)
            out[f"{side}/{phase}"] = Workload(side, command, env, start + shift, first_slot + shift)
    return out


async def restart_workloads(args: argparse.Namespace, workdir: Path, offset: int) -> Result:
    works = workloads(args, workdir, offset)
    processes, period = DURATION // RESTART_EVERY, RESTART_EVERY / args.scale
    await asyncio.gather(*(restart_loop(work, processes, period) for work in works.values()))
    out = {}
    for key, work in works.items():
        name = key.replace("/", "-")
        if work.side == "beat":
            runs = beat_runs(workdir / f"{name}.broker")
        else:
            runs = read_runs(workdir / f"{name}.runs")
        out[key] = summarize(work, runs, args.scale)
    return out


def table(restart: Result, hourly: Result, args: argparse.Namespace, took: float) -> str:
    import django

    sides = [side for side in SIDES if side != "beat" or not args.no_beat]

    def row(label: str, figure: Callable[[Result], str], phase: str | None = None) -> list[str]:
        cells = [label]
        for side in sides:
            result = hourly.get(side) if phase is None else restart.get(f"{side}/{phase}")
            cells.append("error" if result is None or "error" in result else figure(result))
        return cells

    def pair(a: str, b: str, digits: int = 0) -> Callable[[Result], str]:
        def show(r: Result) -> str:
            return "-" if r.get(a) is None else f"{r[a]:.{digits}f} / {r[b]:.{digits}f}"

        return show

    def late(r: Result) -> str:
        return "-" if r["late_max_ms"] is None else f"{r['late_max_ms']:.0f}"

    def downtime(side: str) -> str:
        times = [t for p in PHASES for t in restart.get(f"{side}/{p}", {}).get("downtimes_s", [])]
        return f"{sum(times) / len(times):.2f} / {max(times):.2f}" if times else "-"

    tasks = f"{args.tasks:,}"
    titles = {
        "autosched": "autosched",
        "apscheduler": f"APScheduler {version('apscheduler')}",
        "beat": f"celery-beat {version('django-celery-beat')}",
    }
    rows = [[""] + [titles[side] for side in sides]]
    for phase, label in (
        ("clear", "slots clear of the downtimes"),
        ("downtime", "every other slot in a downtime"),
    ):
        rows += [
            row(
                f"restart, {label}: runs / slots", lambda r: f"{r['runs']} / {r['expected']}", phase
            ),
            row("  gap between runs min / max (s)", pair("gap_min_s", "gap_max_s"), phase),
            row("  latest start after its slot (ms)", late, phase),
        ]
    rows += [
        ["downtime per restart mean / max (s)"] + [downtime(side) for side in sides],
        row(f"{tasks} hourly tasks: most due in one second", lambda r: f"{r['most']:,}"),
        row("  first / last due after the start (s)", pair("first_s", "last_s", 1)),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    scale = args.scale
    interval, period, window = TASK_INTERVAL // scale, RESTART_EVERY / scale, DURATION / scale
    clear = CLEAR_SHARE * RESTART_EVERY
    lines = [
        f"autosched restart benchmark: a {TASK_INTERVAL} s task, its scheduler restarted every "
        f"{RESTART_EVERY} s for {DURATION} s; {tasks} hourly tasks created together",
        f"Real processes, time scaled down {scale}x: a {interval} s task, restarted (SIGTERM, "
        f"wait, start anew) every {period:g} s for {window:g} s; {len(restart)} workloads at once, "
        f"SQLite; autosched's AUTOSCHED_MISSED_SLOT_GRACE = {args.grace:g} s",
        f"Python {platform.python_version()}, Django {django.get_version()}, celery "
        f"{version('celery')}, {os.cpu_count()} CPUs, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; took {took:.0f} s; load avg before "
        f"{args.load_before:.2f}, after {os.getloadavg()[0]:.2f}",
        "",
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    notes = [
        "autosched: manage.py runscheduler, the row's offset NULL (spread from its name). "
        f"APScheduler: BlockingScheduler, add_job(func, 'interval', seconds={interval}) at "
        "process start (default start date). celery-beat: celery beat -S "
        "django_celery_beat.schedulers:DatabaseScheduler; a run is a message sent to the broker.",
        f"Slots clear of the downtimes: {clear:g} s and {clear + RESTART_EVERY / 2:g} s (full "
        f"scale) after each restart. In a downtime: {IN_DOWNTIME:g} s (real) after the SIGTERM, "
        f"and the next slot {RESTART_EVERY / 2:g} s later. celery-beat's row starts with "
        "last_run_at one interval before the first slot, so that it is due at the same times.",
        f"Gaps are at full scale ({scale}x those measured). Lateness (real ms) is from the run's "
        "slot; for celery-beat and APScheduler, the slots of the cadence the task started with. "
        "Downtime (real s): from the SIGTERM until the new process schedules.",
        f"Hourly tasks: autosched, {tasks} rows with offset NULL, next_run of each once a "
        f"SchedulerRunner started; APScheduler, {tasks} add_job(..., 'interval', seconds=3600) "
        f"then start(); celery-beat, {tasks} rows on one IntervalSchedule(every=3600) created "
        "together, each entry's is_due() after the first tick.",
    ]
    lines += ["", "Notes:"]
    lines += [
        textwrap.fill(note, 100, initial_indent="- ", subsequent_indent="  ") for note in notes
    ]
    clear_after = CLEAR_SHARE * period
    for key, result in restart.items():
        slow = [t for t in result.get("downtimes_s", []) if t >= clear_after]
        if key.endswith("/clear") and slow:
            lines.append(
                f"- WARNING {key}: {len(slow)} restart(s) took {clear_after:g} s or more (up to "
                f"{max(slow):.2f} s): a 'clear' slot may have fallen in a downtime. A busy "
                "machine? Run again on a quiet one, or with a smaller --scale."
            )
    for key, result in [*restart.items(), *hourly.items()]:
        if "error" in result:
            lines.append(f"- ERROR {key}: {result['error']}")
        lines += [f"- ERROR {key}: {error}" for error in result.get("errors", [])]
        if result.get("slots_run_twice"):
            lines.append(f"- {key}: {result['slots_run_twice']} slot(s) ran twice")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=int,
        choices=SCALES,
        default=DEFAULT_SCALE,
        help=f"run the restart workload this many times faster (default {DEFAULT_SCALE})",
    )
    parser.add_argument(
        "--tasks", type=int, default=1000, help="hourly tasks for the second figure (default 1000)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=0.0,
        help="autosched's AUTOSCHED_MISSED_SLOT_GRACE, in seconds (default 0)",
    )
    parser.add_argument("--no-beat", action="store_true", help="leave celery-beat out")
    parser.add_argument(
        "--child",
        help=argparse.SUPPRESS,
        choices=[
            "setup-autosched",
            "apscheduler",
            "beat",
            "hourly-autosched",
            "hourly-apscheduler",
            "hourly-beat",
        ],
    )
    parser.add_argument("--interval", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--last-run", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "setup-autosched":
        emit(child_setup_autosched(args.interval))
    elif args.child == "apscheduler":
        child_apscheduler(args.interval)
    elif args.child == "beat":
        child_beat(args.interval, args.last_run)
    elif args.child == "hourly-autosched":
        emit(child_hourly_autosched(args.tasks))
    elif args.child == "hourly-apscheduler":
        emit(child_hourly_apscheduler(args.tasks))
    elif args.child == "hourly-beat":
        emit(child_hourly_beat(args.tasks))
    else:
        return run_all(args)
    return 0


def run_all(args: argparse.Namespace) -> int:
    began = time.monotonic()
    args.load_before = os.getloadavg()[0]
    os.environ["BENCH_MISSED_SLOT_GRACE"] = repr(args.grace)  # read by restart_settings
    sides = [side for side in SIDES if side != "beat" or not args.no_beat]
    with tempfile.TemporaryDirectory(prefix="autosched-restart-") as name:
        workdir = Path(name)
        migrate(workdir, "restart_settings", "autosched-clear")
        copy_db(workdir, "autosched-clear", "hourly-autosched")
        if not args.no_beat:
            migrate(workdir, "beat_settings", "beat-clear")
            copy_db(workdir, "beat-clear", "beat-downtime", "hourly-beat")
        hourly = {
            side: most_in_one_second(
                run_child(
                    side_env(workdir, f"hourly-{side}"),
                    f"hourly-{side}",
                    "--tasks",
                    str(args.tasks),
                )
            )
            for side in sides
        }
        interval = str(TASK_INTERVAL // args.scale)
        setup = run_child(
            side_env(workdir, "autosched-clear"), "setup-autosched", "--interval", interval
        )
        if "error" in setup:
            print(f"Cannot set up autosched's row: {setup['error']}", file=sys.stderr)
            return 1
        copy_db(workdir, "autosched-clear", "autosched-downtime")
        restart = asyncio.run(restart_workloads(args, workdir, setup["offset"]))
    text = table(restart, hourly, args, time.monotonic() - began)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"restart-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.txt"
    raw = json.dumps({"restart": restart, "hourly": hourly}, indent=1)
    path.write_text(f"{text}\n\n{raw}\n", encoding="utf-8")
    print(f"\nSaved to {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
