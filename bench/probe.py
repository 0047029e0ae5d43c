"""What the liveness probe costs at scale: ``schedulerstatus`` with 100,000 rows.

    python bench/probe.py [--rows 100000] [--repeat 3]

Fills a SQLite database with ``--rows`` hourly rows, loads them into a ``Scheduler`` and runs
a ``StatusPublisher`` on it (heartbeat every second, the tasks' status as often as its cost
allows) to a file cache, as ``runscheduler`` would. Meanwhile it runs ``manage.py
schedulerstatus`` in a fresh process with each set of options, ``--repeat`` times, and prints
the median wall time, the exit status and the size of what it printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MODES = ([], ["--json"], ["--brief"], ["--brief", "--json"])


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "django", *args, "--settings=probe_settings"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="autosched-probe-"))
    os.environ.update(
        BENCH_DB_VENDOR="sqlite",
        BENCH_DB_NAME=str(work / "db.sqlite3"),
        BENCH_CACHE_DIR=str(work / "cache"),
        PYTHONPATH=os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
    )
    sys.path.insert(0, str(BENCH_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "probe_settings"
    import django

    django.setup()
    from django.core.management import call_command

    from autosched.models import PeriodicTask
    from autosched.runner.publisher import StatusPublisher
    from autosched.runner.sync import TaskSync
    from autosched.scheduler import Scheduler

    call_command("migrate", verbosity=0)
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"task-{n:06d}", function="benchapp.tasks.noop", interval_seconds=3600)
        for n in range(args.rows)
    )
    scheduler = Scheduler()
    sync = TaskSync()
    sync.apply(scheduler, sync.reload())
    publisher = StatusPublisher(scheduler)
    publisher.start()
    while not publisher.published:
        time.sleep(0.1)
    print(f"{args.rows:,} rows, status published; schedulerstatus in a fresh process each time:")
    print(f"{'options':<16} {'median s':>9} {'min s':>7} {'rc':>3} {'printed':>12}")
    try:
        for mode in MODES:
            times, size, status = [], 0, 0
            for _ in range(args.repeat):
                began = time.perf_counter()
                done = subprocess.run(
                    command("schedulerstatus", *mode), capture_output=True, check=False
                )
                times.append(time.perf_counter() - began)
                size, status = len(done.stdout), done.returncode
                if status not in (0, 1) or (status and "--brief" not in mode):
                    sys.stderr.write(done.stderr.decode())
            label = " ".join(mode) or "(table)"
            print(
                f"{label:<16} {statistics.median(times):>9.2f} {min(times):>7.2f} "
                f"{status:>3} {size:>12,} B"
            )
    finally:
        publisher.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
