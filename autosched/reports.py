"""What workers report of each run of a worker row: one cache key per task, in the status cache.

For a row that runs on a worker, the scheduler only enqueues; the run happens in a worker
process (``db_worker``, ``rqworker``, ``celery worker``) that the scheduler never hears from.
So the worker's task, ``autosched.worker.run_periodic_task``, writes each run's start and end
here, and ``autosched.status.read_status`` merges the last report into the task's status:
``last_run``, ``last_outcome``, ``last_error`` and ``last_duration`` then describe the
worker's run, never the enqueue (which the publisher reports apart, as ``last_enqueued`` and
``enqueue_outcome``). Like the rest of the status it is for display only, and kept
``LAST_KNOWN_TTL``.

A report is ``{"name", "started", "finished", "run_count", "error_count"}``: ``started`` is the
latest run's start (``started_at``, ``scheduled_at``, ``host``, ``pid``), ``finished`` the
latest finished run (the same, with ``finished_at``, ``duration``, ``outcome`` and ``error``)
or None. Two workers reporting one task at the same instant may lose one count: it is a
display, not a ledger.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.cache import caches

from autosched.conf import conf
from autosched.scheduler.errors import STATUS_ERROR_LIMIT, trim

__all__ = [
    "REPORT_PREFIX",
    "Reporter",
    "merge_report",
    "read_reports",
    "report_key",
    "reporter",
]

logger = logging.getLogger("autosched")

REPORT_PREFIX = "autosched:report:"
#: Reports read per cache call by ``read_reports``.
READ_CHUNK = 1000
#: Seconds a report stays in the cache (``autosched.status.LAST_KNOWN_TTL``: a week).
REPORT_TTL = 7 * 86_400


def report_key(name: str) -> str:
    """Return the cache key of task ``name``'s worker report (a hash: any name, any backend)."""
    return REPORT_PREFIX + hashlib.blake2b(name.encode(), digest_size=12).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class Reporter:
    """Write a worker's run reports; a cache error is logged once, never raised."""

    def __init__(self, cache_alias: str | None = None) -> None:
        self._alias = cache_alias
        self._failing = False
        self._lock = threading.Lock()

    @property
    def cache_alias(self) -> str:
        """The cache written to: ``AUTOSCHED_STATUS_CACHE`` unless given."""
        return conf.STATUS_CACHE if self._alias is None else self._alias

    def started(
        self,
        name: str,
        *,
        started_at: datetime,
        scheduled_at: datetime | None,
        host: str,
        pid: int,
    ) -> None:
        """Report that a run of task ``name`` started on this worker."""
        start = {
            "started_at": _iso(started_at),
            "scheduled_at": _iso(scheduled_at),
            "host": host,
            "pid": pid,
        }

        def write(cache: Any) -> None:
            report = _report(cache.get(report_key(name)), name)
            cache.set(report_key(name), {**report, "started": start}, timeout=REPORT_TTL)

        self._write(write)

    def finished(
        self,
        name: str,
        *,
        started_at: datetime,
        finished_at: datetime,
        scheduled_at: datetime | None,
        outcome: str,
        error: str | None,
        host: str,
        pid: int,
    ) -> None:
        """Report how a run of task ``name`` ended: ``outcome`` "ok", "error" or "cancelled"."""
        began = started_at.isoformat()
        start = {"started_at": began, "scheduled_at": _iso(scheduled_at), "host": host, "pid": pid}
        end = {
            **start,
            "finished_at": _iso(finished_at),
            "duration": round((finished_at - started_at).total_seconds(), 6),
            "outcome": outcome,
            "error": trim(error, STATUS_ERROR_LIMIT) if error else None,
        }

        def write(cache: Any) -> None:
            report = _report(cache.get(report_key(name)), name)
            latest = report["started"]
            # A later run, started meanwhile on another worker, stays the one running.
            if not latest or (latest.get("started_at") or "") <= began:
                latest = start
            failed = outcome != "ok"
            report = {
                **report,
                "started": latest,
                "finished": end,
                "run_count": report["run_count"] + 1,
                "error_count": report["error_count"] + failed,
            }
            cache.set(report_key(name), report, timeout=REPORT_TTL)

        self._write(write)

    def _write(self, operation: Any) -> None:
        alias = self.cache_alias
        try:
            operation(caches[alias])
        except Exception as exc:  # the run matters, its report does not
            with self._lock:
                first, self._failing = not self._failing, True
            if first:
                logger.warning(
                    "Cannot report worker runs to the status cache %r (%s: %s); the admin "
                    "and schedulerstatus will not show their outcome until it answers.",
                    alias,
                    type(exc).__name__,
                    exc,
                )
            return
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            logger.info("Reporting worker runs to the status cache %r again.", alias)


def _report(found: object, name: str) -> dict[str, Any]:
    if isinstance(found, dict) and found.get("name") == name:
        return {"started": None, "finished": None, "run_count": 0, "error_count": 0, **found}
    return {"name": name, "started": None, "finished": None, "run_count": 0, "error_count": 0}


#: The reporter of this (worker) process.
reporter = Reporter()


def read_reports(
    names: Iterable[str], *, cache_alias: str | None = None
) -> dict[str, dict[str, Any]]:
    """Return the worker reports of the tasks ``names``, by name (those that have one)."""
    alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
    wanted = {report_key(name): name for name in names}
    keys = list(wanted)
    found: dict[str, dict[str, Any]] = {}
    for chunk in range(0, len(keys), READ_CHUNK):
        values = caches[alias].get_many(keys[chunk : chunk + READ_CHUNK])
        for key, report in values.items():
            name = wanted[key]
            if isinstance(report, dict) and report.get("name") == name:
                found[name] = _report(report, name)
    return found


def merge_report(status: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """Return a worker row's ``status`` with its run described by the worker's ``report``.

    The enqueue's keys (``last_enqueued``, ``enqueue_outcome``…) stay; ``last_run``,
    ``last_outcome``, ``last_duration``, ``last_error``, ``run_count``, ``error_count`` and
    ``running`` come from the report (None and 0 until a worker reports); ``worker_host``,
    ``worker_pid``, ``worker_running``, ``last_finished`` and ``last_scheduled_at`` are added.
    """
    report = report or {}
    started, finished = report.get("started") or {}, report.get("finished") or {}
    running = bool(started) and started.get("started_at") != finished.get("started_at")
    # Where the run shown ran: the one going on, else the last finished.
    shown = started if running else finished
    return {
        **status,
        # Like the core's: while a run goes on, last_run is its start and the outcome the
        # previous run's.
        "last_run": started.get("started_at") if running else finished.get("started_at"),
        "last_outcome": finished.get("outcome"),
        "last_duration": finished.get("duration"),
        "last_error": finished.get("error"),
        "last_finished": finished.get("finished_at"),
        "last_scheduled_at": shown.get("scheduled_at"),
        "run_count": report.get("run_count", 0),
        "error_count": report.get("error_count", 0),
        "running": running,
        "worker_running": running,
        "worker_host": shown.get("host"),
        "worker_pid": shown.get("pid"),
    }
