"""What the scheduler's in-memory run history costs: ``RecentRuns`` at 100,000 tasks.

    python bench/memory.py [--tasks 100000] [--runs 20] [--failing 0.1]
    python bench/memory.py --process [--tasks 100000] [--interval 120] [--seconds 240]

Feeds the publisher's ``RecentRuns`` the run events of ``--tasks`` tasks, ``--runs`` finished
runs each (a share ``--failing`` of them failing, with an exception and its traceback), as the
scheduler's loop does, and takes the records to write after every ``--batch`` runs, as the
status publisher does at each snapshot (at 100,000 tasks, one every ~20 s). Prints the
process's RSS before, after a few rounds and at the end, and the runs held. The tasks are built
first, so the growth is the history's alone.

``--process``: a real ``runscheduler`` on a SQLite database of ``--tasks`` rows, each running a
no-op every ``--interval`` seconds; prints its RSS every 20 s for ``--seconds``.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fail(number: int) -> None:
    raise ValueError(f"feed {number} answered 503: Service Unavailable (upstream timed out)")


def process_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_process(tasks: int, interval: int, seconds: int) -> int:
    """Time a real runscheduler's RSS with ``tasks`` rows every ``interval`` seconds."""
    bench = Path(__file__).resolve().parent
    work = Path(tempfile.mkdtemp(prefix="autosched-memory-"))
    env = {
        **os.environ,
        "BENCH_DB_VENDOR": "sqlite",
        "BENCH_DB_NAME": str(work / "db.sqlite3"),
        "PYTHONPATH": os.pathsep.join([str(bench), os.environ.get("PYTHONPATH", "")]),
        "DJANGO_SETTINGS_MODULE": "sync_settings",
    }
    os.environ.update(env)
    sys.path.insert(0, str(bench))
    import django

    django.setup()
    from django.core.management import call_command

    from autosched.models import PeriodicTask

    call_command("migrate", verbosity=0)
    PeriodicTask.objects.bulk_create(
        PeriodicTask(
            name=f"task-{n:06d}", function="benchapp.tasks.noop", interval_seconds=interval
        )
        for n in range(tasks)
    )
    print(f"runscheduler, {tasks:,} rows every {interval} s (SQLite):")
    child = subprocess.Popen(
        [sys.executable, "-m", "django", "runscheduler", "--verbosity=0"],
        env=env,
        cwd=work,  # not the checkout: PYTHONPATH may name another autosched to compare
        stdout=subprocess.DEVNULL,
    )
    began = time.monotonic()
    try:
        while (elapsed := time.monotonic() - began) < seconds:
            time.sleep(20)
            print(f"  {elapsed + 20:>4.0f} s: RSS {process_rss_mb(child.pid):.0f} MB", flush=True)
    finally:
        child.terminate()
        child.wait(60)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--failing", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--process", action="store_true")
    parser.add_argument("--interval", type=int, default=120)
    parser.add_argument("--seconds", type=int, default=240)
    args = parser.parse_args(argv)
    if args.process:
        return run_process(args.tasks, args.interval, args.seconds)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from autosched.runner.recent_runs import RecentRuns
    from autosched.scheduler import RunEvent, ScheduledTask

    tasks = [ScheduledTask(f"task-{n:06d}", print, 3600) for n in range(args.tasks)]
    names = {task.name: None for task in tasks}
    every = max(1, round(1 / args.failing)) if args.failing else 0
    gc.collect()
    before = rss_mb()
    recent = RecentRuns()
    cap = getattr(recent, "max_bytes", None)  # None: no cap (before AUTOSCHED_RUN_HISTORY_BYTES)
    print(f"{args.tasks:,} tasks x {args.runs} runs, 1 in {every or 'no'} failing; cap: {cap}")
    print(f"RSS before: {before:.0f} MB")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for round_ in range(args.runs):
        for number, task in enumerate(tasks):
            task.last_run = start + timedelta(hours=round_, seconds=number % 3600)
            error = None
            if every and number % every == 0:
                try:
                    fail(number)
                except ValueError as exc:
                    error = exc
                task.last_error = f"ValueError: {error}"
            else:
                task.last_error = None
            outcome = "error" if error else "ok"
            recent.heard(RunEvent("finished", task, outcome, 0.0123 + number * 1e-9, error))
            if number % args.batch == args.batch - 1:
                recent.to_write(names)  # what the publisher does at each snapshot
        recent.to_write(names)
        if round_ in (0, 4, 9) or round_ == args.runs - 1:
            gc.collect()
            print(f"after {round_ + 1:>2} run(s) each: RSS {rss_mb() - before:+.0f} MB")
    held = sum(len(recent.of(task.name)) for task in tasks)
    print(f"runs held: {held:,}; RSS growth: {rss_mb() - before:+.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
