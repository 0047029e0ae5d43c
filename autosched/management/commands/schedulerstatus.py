"""``manage.py schedulerstatus``: show the live status; exit 1 when no scheduler reports."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, Error
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from autosched.conf import conf
from autosched.humanize import in_span, short_span
from autosched.management.table import stdout_may_close, write_table, yes_no
from autosched.models import PeriodicTask
from autosched.scheduler.errors import describe, trim
from autosched.status import banner, read_status, task_cells

#: Exit status when no scheduler has reported within the TTL, as a liveness probe expects.
NOT_ALIVE = 1


def header() -> tuple[str, ...]:
    """Return the live table's header, in the active language."""
    return (
        gettext("NAME"),
        gettext("ENABLED"),
        gettext("INTERVAL"),
        gettext("RUNNING"),
        gettext("NEXT RUN"),
        gettext("LAST RUN"),
        gettext("OUTCOME"),
        gettext("RUNS"),
    )


def expected_header() -> tuple[str, ...]:
    """Return the header of the table of expected next runs, when no scheduler reports."""
    return (
        gettext("NAME"),
        gettext("ENABLED"),
        gettext("SCHEDULE"),
        gettext("NEXT RUN (EXPECTED)"),
    )


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override] # translated when asked, not at import
        """Say what the command does, in the active language."""
        return gettext(
            "Print the status the running scheduler publishes through the cache. Exit status 0 "
            "when a scheduler reported within AUTOSCHED_STATUS_TTL seconds, 1 otherwise."
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help=str(_("Print the status as JSON, for machines."))
        )
        parser.add_argument(
            "--brief",
            action="store_true",
            help=str(
                _(
                    "Print one line (with --json, a small object): whether a scheduler is alive, "
                    "which one, and its task counts. Fast at any number of tasks: for liveness "
                    "probes."
                )
            ),
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help=str(_("The database whose rows give the expected next runs (default: default).")),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["brief"]:
            self._brief(options["json"])
            return
        status = read_status()
        now = datetime.now(UTC)
        expected = _expected(options["database"], now)
        with stdout_may_close(self):
            if options["json"]:
                by_name = {str(task): when and when.isoformat() for task, when in expected}
                self.stdout.write(
                    json.dumps({**status, "expected": by_name}, indent=2, sort_keys=True)
                )
            elif status["alive"]:
                self.stdout.write(self.style.SUCCESS(banner(status)))
                self._table(status["tasks"], now)
            else:
                self._expected_table(expected, now)
        if not status["alive"]:
            _not_alive(status)

    def _brief(self, as_json: bool) -> None:
        # The heartbeats alone: neither the tasks' status nor the rows, whose cost grows
        # with their number (8 s and 8 MB of table at 100,000 rows).
        status = read_status(with_tasks=False)
        with stdout_may_close(self):
            if as_json:
                self.stdout.write(json.dumps(brief(status), sort_keys=True))
            elif status["alive"]:
                self.stdout.write(self.style.SUCCESS(banner(status)))
        if not status["alive"]:
            _not_alive(status)

    def _table(self, tasks: dict[str, dict[str, Any]], now: datetime) -> None:
        if not tasks:
            self.stdout.write(gettext("No tasks loaded."))
            return
        rows = [header()]
        for name, status in sorted(tasks.items()):
            cells = task_cells(status, now)
            rows.append(
                (
                    name,
                    yes_no(status["enabled"]),
                    _interval(status),
                    cells["running"] or "-",
                    cells["next_run"] or "-",
                    cells["last_run"],
                    _outcome(cells) or "-",
                    cells["runs"],
                )
            )
        write_table(self, rows)

    def _expected_table(
        self, expected: list[tuple[PeriodicTask, datetime | None]], now: datetime
    ) -> None:
        # With no scheduler to ask, the rows still say when the next runs fall.
        if not expected:
            return
        rows = [expected_header()]
        for task, when in expected:
            next_run = in_span((when - now).total_seconds()) if when else "-"
            if problem := task.unreadable:
                schedule = gettext("unreadable: %(problem)s") % {"problem": problem}
            else:
                schedule = _schedule_display(task)
            rows.append((str(task), yes_no(task.enabled), schedule, next_run))
        write_table(self, rows)


def _interval(status: dict[str, Any]) -> str:
    """Say the interval, and a whole-day task's zone: "1 d (Europe/Madrid)"."""
    span = short_span(status["interval_seconds"])
    zone = status.get("timezone")
    return f"{span} ({zone})" if zone else span


def _not_alive(status: dict[str, Any]) -> None:
    # The rows say when runs should come; what was last known is the admin's to show.
    said = banner({**status, "last_known": None})
    raise CommandError(
        gettext(
            "%(banner)s Is `manage.py runscheduler` running, and does it use the "
            "same cache (%(cache)r) as this command?"
        )
        % {"banner": said, "cache": conf.STATUS_CACHE},
        returncode=NOT_ALIVE,
    )


#: The active scheduler's keys that ``--brief --json`` prints.
BRIEF_KEYS = ("identity", "host", "pid", "started_at", "published_at", "version")


def brief(status: dict[str, Any]) -> dict[str, Any]:
    """Return what ``--brief --json`` prints: alive, the active scheduler, standbys, counts."""
    beat = status["scheduler"] or {}
    return {
        "alive": status["alive"],
        "age": status["age"],
        "ttl": status["ttl"],
        "error": status["error"],
        "active": {key: beat.get(key) for key in BRIEF_KEYS} if beat else None,
        "standbys": [standby.get("identity") for standby in status["standbys"]],
        "tasks_loaded": beat.get("tasks_loaded"),
        "tasks_enabled": beat.get("tasks_enabled"),
    }


#: Longest error text in the table's outcome cell (``--json`` has it whole).
TABLE_ERROR_LIMIT = 80


def _outcome(cells: dict[str, str]) -> str:
    """Say the outcome; for a worker row where the worker ran it, its error and the enqueue."""
    parts = [cells["outcome"]]
    if cells["worker"]:
        parts[0] = f"{parts[0]} {cells['worker']}".strip()
    if cells["enqueue"] or cells["worker"]:
        if cells["error"]:
            parts.append(trim(cells["error"], TABLE_ERROR_LIMIT))
        parts.append(cells["enqueue"])
    return "; ".join(part for part in parts if part)


def _expected(using: str, now: datetime) -> list[tuple[PeriodicTask, datetime | None]]:
    """Return each row with its next run by the row alone (None: disabled or unusable)."""
    try:
        tasks = list(PeriodicTask.objects.using(using).order_by("name"))
    except Error:
        return []  # the cache may say more; the database is not this command's concern
    result = []
    for task in tasks:
        try:
            when = None if task.unreadable else task.expected_next_run(now)
        except Exception:  # any: a row written around the checks costs only itself
            when = None
        result.append((task, when))
    return result


def _schedule_display(task: PeriodicTask) -> str:
    try:
        return task.schedule_display
    except Exception as exc:  # any: as above
        return gettext("unreadable: %(problem)s") % {"problem": describe(exc)}
