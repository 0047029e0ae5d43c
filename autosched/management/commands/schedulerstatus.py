"""``manage.py schedulerstatus``: show the live status; exit 1 when no scheduler reports."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from autosched.conf import conf
from autosched.management.table import write_table
from autosched.status import banner, read_status, task_cells

#: Exit status when no scheduler has reported within the TTL, as a liveness probe expects.
NOT_ALIVE = 1
HEADER = ("NAME", "ENABLED", "INTERVAL", "RUNNING", "NEXT RUN", "LAST RUN", "OUTCOME", "RUNS")


class Command(BaseCommand):
    help = (
        "Print the status the running scheduler publishes through the cache. Exit status 0 "
        "when a scheduler reported within AUTOSCHED_STATUS_TTL seconds, 1 otherwise."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="Print the status as JSON, for machines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        status = read_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2, sort_keys=True))
        elif status["alive"]:
            self.stdout.write(self.style.SUCCESS(banner(status)))
            self._table(status["tasks"])
        if not status["alive"]:
            raise CommandError(
                f"{banner(status)} Is `manage.py runscheduler` running, and does it use the "
                f"same cache ({conf.STATUS_CACHE!r}) as this command?",
                returncode=NOT_ALIVE,
            )

    def _table(self, tasks: dict[str, dict[str, Any]]) -> None:
        if not tasks:
            self.stdout.write("No tasks loaded.")
            return
        now = datetime.now(UTC)
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
