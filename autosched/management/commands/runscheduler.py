"""``manage.py runscheduler``: run the periodic tasks and apply database changes live."""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import sys
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, Error, connections
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from autosched.checks import check_worker_backends
from autosched.conf import conf, valid_sync_interval
from autosched.humanize import schedule_words
from autosched.management.table import stdout_may_close, write_table, yes_no
from autosched.models import PeriodicTask
from autosched.models.fields import Unreadable
from autosched.registry import registry
from autosched.runner import (
    SchedulerRunner,
    favour_the_loop,
    flush_logging,
    stop_on_signals,
    threads_blocking_exit,
)
from autosched.runner.calls import in_process
from autosched.schedule import effective_offset
from autosched.scheduler import Scheduler
from autosched.scheduler.errors import describe
from autosched.zones import ZoneError, check_zone

if TYPE_CHECKING:
    from autosched.runner.metrics import MetricsServer

LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Exit status of ``--run`` when the task does not exist or cannot be run (a usage error).
USAGE_ERROR = 2


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override] # translated when asked, not at import
        """Say what the command does, in the active language."""
        return gettext(
            "Run the periodic tasks stored in the database, applying changes made through the "
            "admin or the ORM within about a second, without a restart."
        )

    requires_migrations_checks = True
    #: True when run as ``manage.py runscheduler`` (not ``call_command``): the process is ours.
    owns_process = False

    def run_from_argv(self, argv: list[str]) -> None:
        self.owns_process = True
        super().run_from_argv(argv)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--sync-interval",
            type=float,
            metavar="SECONDS",
            help=str(
                _(
                    "Seconds between two checks for changed rows "
                    "(default: AUTOSCHED_SYNC_INTERVAL, 0.5)."
                )
            ),
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help=str(_('The database alias to read tasks from (default: "default").')),
        )
        parser.add_argument(
            "--metrics-addr",
            metavar="HOST:PORT",
            help=str(
                _(
                    "Serve Prometheus metrics at http://HOST:PORT/metrics "
                    '(needs pip install "autosched[prometheus]").'
                )
            ),
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--list",
            action="store_true",
            help=str(_("Print the tasks and their state, then exit.")),
        )
        mode.add_argument(
            "--run",
            metavar="NAME",
            help=str(
                _("Run the task NAME once in the foreground; the exit status tells its outcome.")
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        using: str = options["database"]
        if using not in connections:
            raise CommandError(gettext("Unknown database alias %(alias)r.") % {"alias": using})
        with self._logging(options["verbosity"]):
            if options["list"]:
                self._list(using)
            elif options["run"] is not None:
                self._run_one(options["run"], using)
            else:
                interval = self._sync_interval(options["sync_interval"])
                self._serve(interval, using, options.get("metrics_addr"))

    def _sync_interval(self, value: float | None) -> float:
        interval = conf.SYNC_INTERVAL if value is None else value
        try:
            label = "AUTOSCHED_SYNC_INTERVAL" if value is None else "--sync-interval"
            return valid_sync_interval(interval, label)
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    @contextmanager
    def _logging(self, verbosity: int) -> Iterator[None]:
        logger = logging.getLogger("autosched")
        previous_level = logger.level
        logger.setLevel(LOG_LEVELS.get(verbosity, logging.DEBUG))
        handler = None
        # Leave the project's LOGGING alone when it routes "autosched" (or the root) anywhere.
        if not logger.hasHandlers():
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logger.addHandler(handler)
        try:
            yield
        finally:
            logger.setLevel(previous_level)
            if handler is not None:
                logger.removeHandler(handler)

    def _list(self, using: str) -> None:
        fields = (
            "name",
            "function",
            "interval_seconds",
            "offset_seconds",
            "timezone",
            "enabled",
            "kwargs",
        )
        rows = list(PeriodicTask.objects.using(using).order_by("name").only(*fields))
        if not rows:
            self.stdout.write(gettext("No periodic tasks."))
            return
        header = (
            gettext("NAME"),
            gettext("FUNCTION"),
            gettext("SCHEDULE"),
            gettext("ENABLED"),
            gettext("REGISTERED"),
        )
        table = [header] + [_list_row(task) for task in rows]
        with stdout_may_close(self):
            write_table(self, table)

    def _run_one(self, name: str, using: str) -> None:
        tasks = PeriodicTask.objects.using(using)
        row = tasks.filter(name=name).values_list("function", "kwargs", "timeout_seconds").first()
        if row is None:
            names = [n for n in tasks.values_list("name", flat=True) if isinstance(n, str)]
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                gettext("Did you mean %(name)r?") % {"name": close[0]}
                if close
                else gettext("See runscheduler --list.")
            )
            raise CommandError(
                gettext("No periodic task is named %(name)r.") % {"name": name} + " " + hint,
                returncode=USAGE_ERROR,
            )
        function, kwargs, timeout = row
        if isinstance(kwargs, Unreadable):
            raise CommandError(
                gettext("Task %(name)r cannot run: %(problem)s")
                % {"name": name, "problem": PeriodicTask(kwargs=kwargs).unreadable},
                returncode=USAGE_ERROR,
            )
        registered = registry.get(function)
        if registered is None:
            raise CommandError(
                gettext("Task %(name)r names function %(function)r, which is not registered.")
                % {"name": name, "function": function},
                returncode=USAGE_ERROR,
            )
        scheduler = Scheduler(grace_period=conf.GRACE_PERIOD, max_workers=1)
        try:
            registered.check_kwargs(kwargs)
            # The interval does not matter for one run; the row's may even be unusable.
            scheduler.add_task(name, in_process(registered, kwargs), 1, timeout=timeout)
        except (ValueError, LookupError) as exc:
            raise CommandError(
                gettext("Task %(name)r cannot run: %(problem)s") % {"name": name, "problem": exc},
                returncode=USAGE_ERROR,
            ) from None
        task = scheduler.tasks[name]
        asyncio.run(scheduler.run_task(task))
        if task.last_outcome != "ok":
            raise CommandError(
                gettext("Task %(name)r failed: %(error)s")
                % {"name": name, "error": task.last_error}
            )
        self.stdout.write(
            self.style.SUCCESS(
                gettext("Task %(name)r succeeded in %(seconds).3f s.")
                % {"name": name, "seconds": task.last_duration}
            )
        )

    def _serve(self, sync_interval: float, using: str, metrics_addr: str | None = None) -> None:
        # The database checks run only when asked (check --database): say it here, at start.
        for warning in check_worker_backends(databases=[using]):
            logging.getLogger("autosched").warning(
                "%s %s (%s)", warning.msg, warning.hint, warning.id
            )
        if self.owns_process:
            favour_the_loop()
        runner = SchedulerRunner(sync_interval=sync_interval, using=using)
        metrics = self._serve_metrics(runner, metrics_addr) if metrics_addr else None
        _record_opentelemetry(runner)
        if conf.SENTRY_CRONS:
            self._send_sentry_check_ins(runner)

        async def main() -> None:
            try:
                await runner.load()
            except Error as exc:
                raise CommandError(
                    gettext("Cannot load periodic tasks from database %(alias)r: %(error)s")
                    % {"alias": using, "error": exc}
                ) from exc
            if not runner.stop_requested:  # else the load was given up on: nothing to say
                self._describe_start(runner)
            await runner.run()

        with stop_on_signals(runner):
            loop = asyncio.Runner()
            try:
                loop.run(main())
            finally:
                if not runner.scheduler.abandoned:
                    loop.close()  # else its cleanup would wait for a run that will not end
                if metrics is not None:
                    metrics.close()
        self.stdout.write(gettext("Scheduler stopped."))
        if not self.owns_process:
            return
        blocking = threads_blocking_exit()
        abandoned = runner.scheduler.abandoned
        if blocking or abandoned:
            # Sync runs cannot be cancelled and a run may ignore its cancellation; the grace
            # period is over and the lease released: do not let them hold the process.
            logging.getLogger("autosched").warning(
                "Exiting without waiting for %d task run(s) still going after the grace period%s.",
                max(len(blocking), len(abandoned)),
                f": {', '.join(map(repr, abandoned))}" if abandoned else "",
            )
        if runner.database_hung:
            # Its thread would be joined at the interpreter's exit, for as long as it hangs.
            logging.getLogger("autosched").warning(
                "Exiting without waiting for database %r, which does not answer.", using
            )
        if blocking or abandoned or runner.database_hung:
            flush_logging()  # os._exit skips logging's own flush: buffered records would be lost
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    def _serve_metrics(self, runner: SchedulerRunner, address: str) -> MetricsServer:
        """Serve ``runner``'s Prometheus metrics at ``address``, or say why it cannot."""
        try:
            from autosched.runner.metrics import MetricsServer, SchedulerMetrics
        except ImportError as exc:
            raise CommandError(
                gettext(
                    '--metrics-addr needs prometheus-client: pip install "autosched[prometheus]" '
                    "(%(error)s)."
                )
                % {"error": exc}
            ) from None
        try:
            server = MetricsServer(SchedulerMetrics.for_runner(runner).registry, address)
        except ValueError as exc:
            raise CommandError(f"--metrics-addr: {exc}") from None
        except OSError as exc:
            raise CommandError(
                gettext("Cannot serve metrics at %(address)s: %(error)s")
                % {"address": address, "error": exc}
            ) from None
        self.stdout.write(
            gettext("Serving Prometheus metrics at http://%(address)s/metrics.")
            % {"address": f"{address.rpartition(':')[0]}:{server.port}"}
        )
        return server

    def _send_sentry_check_ins(self, runner: SchedulerRunner) -> None:
        """Make each row a Sentry Crons monitor, or say which extra is missing."""
        try:
            from autosched.runner.sentry_crons import SentryCrons
        except ImportError as exc:
            raise CommandError(
                gettext(
                    'AUTOSCHED_SENTRY_CRONS needs sentry-sdk: pip install "autosched[sentry]" '
                    "(%(error)s)."
                )
                % {"error": exc}
            ) from None
        SentryCrons.for_runner(runner)

    def _describe_start(self, runner: SchedulerRunner) -> None:
        tasks = runner.scheduler.tasks.values()
        enabled = sum(task.enabled for task in tasks)
        skipped = len(runner.sync.skipped)
        connection = connections[runner.using]
        counts = {"enabled": enabled, "total": len(tasks) + skipped, "skipped": skipped}
        if skipped:
            summary = gettext(
                "Loaded %(enabled)d enabled task(s) of %(total)d (%(skipped)d skipped, see the "
                "warnings)."
            )
        else:
            summary = gettext("Loaded %(enabled)d enabled task(s) of %(total)d.")
        self.stdout.write(self.style.SUCCESS(summary % counts))
        self.stdout.write(
            gettext(
                "Database %(alias)r (%(vendor)s, %(name)s); checking for changes every "
                "%(interval)s s. Press Ctrl-C to stop."
            )
            % {
                "alias": runner.using,
                "vendor": connection.vendor,
                "name": connection.settings_dict["NAME"],
                "interval": f"{runner.sync_interval:g}",
            }
        )


def _record_opentelemetry(runner: SchedulerRunner) -> None:
    """Record the runner's metrics through OpenTelemetry when ``autosched[otel]`` is there."""
    try:
        from autosched.runner.otel import OpenTelemetryMetrics
    except ImportError:  # opentelemetry-api is not installed: nothing to record to
        return
    OpenTelemetryMetrics.for_runner(runner)


def _list_row(task: PeriodicTask) -> tuple[str, ...]:
    """Return a row of ``--list``; one that cannot be read says why in its schedule cell."""
    function = str(task.function)
    registered = yes_no(True) if task.function in registry else gettext("NO")
    problem = task.unreadable
    if problem is None:
        try:
            schedule = _schedule_cell(
                task.name, task.interval_seconds, task.offset_seconds, task.timezone
            )
        except Exception as exc:  # any: one row that breaks this must not hide the list
            problem = describe(exc)
        else:
            return (task.name, function, schedule, yes_no(task.enabled), registered)
    unreadable = gettext("unreadable: %(problem)s") % {"problem": problem}
    return (str(task), function, unreadable, yes_no(task.enabled), registered)


def _schedule_cell(name: str, interval: object, offset: object, zone: object = "") -> str:
    """Say a row's schedule, or what is wrong with it: one bad row must not hide the list."""
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        return gettext("invalid interval %(value)r") % {"value": interval}
    if offset is not None and (not isinstance(offset, int) or not 0 <= offset < interval):
        return gettext("invalid offset %(value)r") % {"value": offset}
    try:
        zone = check_zone(zone, interval)
    except ZoneError:
        return gettext("invalid time zone %(value)r") % {"value": zone}
    spread = offset is None
    return schedule_words(interval, effective_offset(name, interval, offset), spread, zone)
