"""Benchmark of the admin's status view: the CPU one poll of one tab costs, by the number of rows.

    python bench/status_view.py [--rows 10000 100000] [--run-on process worker]

For each size, a SQLite file and a file-based status cache of their own (the test suite's
settings) get ``rows`` rows and a published status, as a running scheduler would write it;
worker rows also get a worker's report each. Then the CPU time (``time.process_time``) of the
status view for the first page's 100 ids (what ``status.js`` polls every 2 s), of the list's
first page, and of the list filtered by ``?outcome=never``: the median of five requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION = "tests.testapp.tasks.no_default"
PAGE = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--run-on", nargs="+", default=["process", "worker"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="autosched-status-view-"))
    os.environ["AUTOSCHED_TEST_CACHE"] = str(folder / "cache")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    sys.path.insert(0, str(REPO_ROOT))
    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = str(folder / "db.sqlite3")
    # A report per row: more entries than the file cache keeps by default (300).
    settings.CACHES["default"]["OPTIONS"] = {"MAX_ENTRIES": 1_000_000}
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for rows in args.rows:
        for run_on in args.run_on:
            figures = measure(rows, run_on, args.repeat)
            print(
                f"{rows:>7,} {run_on:<7} rows: status view {figures['status']:7.1f} ms CPU, "
                f"list page {figures['list']:7.1f} ms, ?outcome=never {figures['never']:7.1f} ms"
            )


def measure(rows: int, run_on: str, repeat: int) -> dict[str, float]:
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from autosched.models import PeriodicTask
    from autosched.reports import report_key
    from autosched.runner.publisher import StatusPublisher
    from autosched.scheduler import Scheduler

    cache.clear()
    PeriodicTask.objects.all().delete()
    names = [f"task-{number:06d}" for number in range(rows)]
    PeriodicTask.objects.bulk_create(
        (PeriodicTask(name=name, function=FUNCTION, interval_seconds=3600) for name in names),
        batch_size=5000,
    )
    scheduler = Scheduler()
    for name in names:
        scheduler.add_task(name, _job, 3600)
    workers = frozenset(names) if run_on == "worker" else frozenset()
    publisher = StatusPublisher(scheduler, worker_rows=lambda: workers)
    publisher.publish()
    if workers:
        started = datetime.now(UTC) - timedelta(seconds=30)
        run = {"started_at": started.isoformat(), "scheduled_at": None, "host": "w", "pid": 1}
        end = {**run, "finished_at": started.isoformat(), "duration": 0.1, "outcome": "ok"}
        reports = {
            report_key(name): {
                "name": name, "started": run, "finished": {**end, "error": None},
                "run_count": 1, "error_count": 0,
            }
            for name in names
        }  # fmt: skip
        items = list(reports.items())
        for start in range(0, len(items), 5000):
            cache.set_many(dict(items[start : start + 5000]))
    publisher.publish()  # again: writing the reports may have taken longer than the TTL
    from autosched.status import read_status

    found = read_status()
    assert found["alive"], found
    assert len(found["tasks"]) == rows, len(found["tasks"])
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password="x"
    )
    client = Client()
    client.force_login(user)
    changelist = reverse("admin:autosched_periodictask_changelist")
    ids = ",".join(
        str(pk) for pk in PeriodicTask.objects.order_by("name").values_list("pk", flat=True)[:PAGE]
    )
    status = reverse("admin:autosched_periodictask_status") + "?ids=" + ids

    def cpu(url: str) -> float:
        times = []
        for _ in range(repeat):
            began = time.process_time()
            response = client.get(url)
            times.append(time.process_time() - began)
            assert response.status_code == 200, response.status_code
        return statistics.median(times) * 1000

    return {
        "status": cpu(status),
        "list": cpu(changelist),
        "never": cpu(changelist + "?outcome=never"),
    }


def _job() -> None:
    """Do nothing."""


if __name__ == "__main__":
    main()
