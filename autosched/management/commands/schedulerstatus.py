"""``manage.py schedulerstatus``: show the live status; exit 1 when no scheduler reports."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, Error

from autosched.conf import conf
from autosched.humanize import short_span
from autosched.management.table import write_table
from autosched.models import PeriodicTask
from autosched.status import banner, read_status, task_cells

#: Exit status when no scheduler has reported within the TTL, as a liveness probe expects.
NOT_ALIVE = 1
HEADER = ("NAME", "ENABLED", "INTERVAL", "RUNNING", "NEXT RUN", "LAST RUN", "OUTCOME", "RUNS")
EXPECTED_HEADER = ("NAME", "ENABLED", "SCHEDULE", "NEXT RUN (EXPECTED)")


class Command(BaseCommand):
    help = (
        "Print the status the running scheduler publishes through the cache. Exit status 0 "
        "when a scheduler reported within AUTOSCHED_STATUS_TTL seconds, 1 otherwise."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="Print the status as JSON, for machines."
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database whose rows give the expected next runs (default: default).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        status = read_status()
        now = datetime.now(UTC)
        expected = _expected(options["database"], now)
        if options["json"]:
            by_name = {task.name: when.isoformat() if when else None for task, when in expected}
            self.stdout.write(json.dumps({**status, "expected": by_name}, indent=2, sort_keys=True))
        elif status["alive"]:
            self.stdout.write(self.style.SUCCESS(banner(status)))
            self._table(status["tasks"], now)
        else:
            self._expected_table(expected, now)
        if not status["alive"]:
            raise CommandError(
                f"{banner(status)} Is `manage.py runscheduler` running, and does it use the "
                f"same cache ({conf.STATUS_CACHE!r}) as this command?",
                returncode=NOT_ALIVE,
            )

    def _table(self, tasks: dict[str, dict[str, Any]], now: datetime) -> None:
        if not tasks:
            self.stdout.write("No tasks loaded.")
            return
        rows = [HEADER]
        for name, status in sorted(tasks.items()):
            cells = task_cells(status, now)
            runs = f"{status['run_count']} ({status['error_count']} failed)"
            rows.append(
                (
                    name,
                    "yes" if status["enabled"] else "no",
                    f"{status['interval_seconds']:g} s",
                    cells["running"] or "-",
                    cells["next_run"] or "-",
                    cells["last_run"],
                    cells["outcome"] or "-",
                    runs,
                )
            )
        write_table(self, rows)

    def _expected_table(
        self, expected: list[tuple[PeriodicTask, datetime | None]], now: datetime
    ) -> None:
        # With no scheduler to ask, the rows still say when the next runs fall.
        if not expected:
            return
        rows = [EXPECTED_HEADER]
        for task, when in expected:
            next_run = f"in {short_span((when - now).total_seconds())}" if when else "-"
            rows.append(
                (task.name, "yes" if task.enabled else "no", task.schedule_display, next_run)
            )
        write_table(self, rows)


def _expected(using: str, now: datetime) -> list[tuple[PeriodicTask, datetime | None]]:
    """Return each row with its next run by the row alone (None: disabled or unusable)."""
    try:
        tasks = list(PeriodicTask.objects.using(using).order_by("name"))
    except Error:
        return []  # the cache may say more; the database is not this command's concern
    result = []
    for task in tasks:
        try:
            when = task.expected_next_run(now)
        except (TypeError, ValueError):  # a row written around the checks
            when = None
        result.append((task, when))
    return result
