"""What workers report of each run of a worker row, in the status cache, keyed by the row's pk.

For a worker row the scheduler only enqueues; the run happens in a worker process that it never
hears from. So the worker's task, ``autosched.worker.run_periodic_task``, writes each run's
start, a heartbeat while it runs and its end here, and ``autosched.status.read_status`` merges
them into the task's status: ``last_run``, ``last_outcome``, ``last_error`` and
``last_duration`` then describe the worker's run, never the enqueue (``last_enqueued``,
``enqueue_outcome``). Like the rest of the status it is for display only, kept ``REPORT_TTL``.

``report_key(pk)`` holds ``{"row", "name", "running", "finished", "run_count",
"error_count"}``: ``running`` lists the slots of the runs started and not known to have ended,
``finished`` is the latest finished run or None. Each run going on has a key of its own,
``run_key(pk, slot)``, written only by its worker (its start, then a heartbeat every
``AUTOSCHED_STATUS_TTL / 2`` seconds) and deleted when it ends. Keyed by the pk, a new row
that takes a renamed row's name starts with no report; and a worker writes a report only for
a run whose token (``autosched.tokens``) says the scheduler enqueued it for that row and slot.

A run not heard from for ``LOST_AFTER_TTLS`` times ``AUTOSCHED_STATUS_TTL`` seconds (a worker
killed mid-run) is read as failed, lost; the row's next run on a worker records it so and sends
its ``task_finished``. A run going on past the row's timeout is read as overrunning it. What
the cache holds is validated as it is read: a value of the wrong shape is ignored, never shown.
Two workers reporting one row at once may lose a count: it is a display, not a ledger.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.cache import caches

from autosched.conf import conf, valid_status_ttl
from autosched.scheduler.errors import STATUS_ERROR_LIMIT, trim

__all__ = [
    "LOST_AFTER_TTLS",
    "REPORT_PREFIX",
    "Reporter",
    "going_on",
    "heartbeat_every",
    "lost_after",
    "lost_end",
    "merge_report",
    "read_reports",
    "report_key",
    "reporter",
    "run_key",
]

logger = logging.getLogger("autosched")

REPORT_PREFIX = "autosched:report:"
#: Keys read per cache call by ``read_reports``.
READ_CHUNK = 1000
#: Seconds a report stays in the cache (``autosched.status.LAST_KNOWN_TTL``: a week).
REPORT_TTL = 7 * 86_400
#: A run not heard from for this many ``AUTOSCHED_STATUS_TTL`` is lost.
LOST_AFTER_TTLS = 3
#: Runs of one row listed as going on at once, at most (the oldest are dropped).
RUNNING_LIMIT = 20


def report_key(row_id: int) -> str:
    """Return the cache key of row ``row_id``'s worker report."""
    return f"{REPORT_PREFIX}{int(row_id)}"


def run_key(row_id: int, slot: str) -> str:
    """Return the cache key of the run of row ``row_id`` at ``slot`` while it goes on."""
    return f"{report_key(row_id)}:" + hashlib.blake2b(slot.encode(), digest_size=8).hexdigest()


def _status_ttl() -> float:
    try:
        return valid_status_ttl(conf.STATUS_TTL)
    except (TypeError, ValueError):  # autosched.E004 says so
        return 5.0


def heartbeat_every() -> float:
    """Return the seconds between two heartbeats of a run going on (half the status TTL)."""
    return _status_ttl() / 2


def lost_after() -> float:
    """Return the seconds without a heartbeat after which a run is lost."""
    return LOST_AFTER_TTLS * _status_ttl()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time(value: object) -> datetime | None:
    """Return ``value`` as an aware datetime if it is an ISO 8601 string of one, else None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: object) -> int:
    return value if _number(value) and isinstance(value, int) and value >= 0 else 0


def _valid_run(found: object, row_id: int) -> dict[str, Any] | None:
    """Return a run going on as written by ``Reporter.started``, or None if it is not one."""
    if not isinstance(found, dict) or found.get("row") != row_id:
        return None
    sound = (
        _time(found.get("started_at")) is not None
        and _time(found.get("seen_at")) is not None
        and isinstance(found.get("slot"), str)
        and _number(found.get("lost_after"))
        and (found.get("timeout") is None or _number(found.get("timeout")))
    )
    return found if sound else None


def _valid_end(found: object) -> dict[str, Any] | None:
    """Return a finished run as written by ``Reporter.finished``, or None if it is not one."""
    if not isinstance(found, dict) or not isinstance(found.get("outcome"), str):
        return None
    times = (_time(found.get(key)) for key in ("started_at", "finished_at"))
    if None in times or not _number(found.get("duration")):
        return None
    error = found.get("error")
    return {**found, "error": error if isinstance(error, str) else None}


def _report(found: object, row_id: int, name: str) -> dict[str, Any]:
    """Return the row's report from what the cache held (a fresh one if it is none)."""
    report: dict[str, Any] = {
        "row": row_id,
        "name": name,
        "running": [],
        "finished": None,
        "run_count": 0,
        "error_count": 0,
    }
    if isinstance(found, dict) and found.get("row") == row_id:
        running = found.get("running")
        if isinstance(running, list):
            report["running"] = [slot for slot in running if isinstance(slot, str)]
        report["finished"] = _valid_end(found.get("finished"))
        report["run_count"] = _count(found.get("run_count"))
        report["error_count"] = _count(found.get("error_count"))
    return report


def going_on(
    row_id: int,
    name: str,
    *,
    slot: str,
    started_at: datetime,
    scheduled_at: datetime | None,
    host: str,
    pid: int,
    timeout: float | None,
) -> dict[str, Any]:
    """Return a run of row ``row_id`` going on, as ``Reporter.started`` and ``beat`` write it."""
    return {
        "row": row_id,
        "name": name,
        "slot": slot,
        "started_at": _iso(started_at),
        "scheduled_at": _iso(scheduled_at),
        "seen_at": _iso(started_at),
        "host": host,
        "pid": pid,
        "timeout": timeout,
        "lost_after": lost_after(),
    }


def _is_lost(run: dict[str, Any], now: datetime) -> bool:
    seen = _time(run["seen_at"])
    return seen is not None and (now - seen).total_seconds() > float(run["lost_after"])


def lost_end(run: dict[str, Any]) -> dict[str, Any]:
    """Return how a lost run ``run`` ended, as ``finished`` says it: failed, with why."""
    started, seen = _time(run["started_at"]), _time(run["seen_at"])
    duration = (seen - started).total_seconds() if started and seen else 0.0
    error = (
        f"WorkerLost: the worker on host {run.get('host')}, pid {run.get('pid')} stopped "
        f"reporting this run {max(duration, 0.0):.0f} s after it started (killed, or its "
        "machine lost?)"
    )
    return {
        "started_at": run["started_at"],
        "scheduled_at": run.get("scheduled_at"),
        "host": run.get("host"),
        "pid": run.get("pid"),
        "finished_at": run["seen_at"],
        "duration": round(max(duration, 0.0), 6),
        "outcome": "error",
        "error": trim(error, STATUS_ERROR_LIMIT),
    }


def _later(end: dict[str, Any] | None, than: dict[str, Any] | None) -> bool:
    if than is None:
        return True
    return end is not None and str(end["started_at"]) >= str(than["started_at"])


def _record_end(report: dict[str, Any], end: dict[str, Any]) -> None:
    if _later(end, report["finished"]):
        report["finished"] = end
    report["run_count"] += 1
    report["error_count"] += end["outcome"] != "ok"


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

    def started(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """Report that ``run`` (made by ``going_on``) started; return the row's runs found lost.

        Each lost run is recorded as failed (``lost_end``); the caller sends their signals.
        """
        row_id, name, slot = run["row"], run["name"], run["slot"]
        started_at = datetime.fromisoformat(run["started_at"])
        lost: list[dict[str, Any]] = []

        def write(cache: Any) -> None:
            report = _report(cache.get(report_key(row_id)), row_id, name)
            others = [other for other in report["running"] if other != slot]
            found = cache.get_many([run_key(row_id, other) for other in others]) if others else {}
            going = []
            for other in others:
                going_on = _valid_run(found.get(run_key(row_id, other)), row_id)
                if going_on is None:
                    continue  # it ended, or its key expired
                if _is_lost(going_on, started_at):
                    lost.append(going_on)
                    _record_end(report, lost_end(going_on))
                    cache.delete(run_key(row_id, other))
                else:
                    going.append(other)
            cache.set(run_key(row_id, slot), run, timeout=REPORT_TTL)
            report.update(name=name, running=[*going, slot][-RUNNING_LIMIT:])
            cache.set(report_key(row_id), report, timeout=REPORT_TTL)

        self._write(write)
        return lost

    def beat(self, run: dict[str, Any], now: datetime) -> None:
        """Say that ``run`` (made by ``going_on``) still goes on, at ``now``."""
        key = run_key(run["row"], run["slot"])
        self._write(lambda cache: cache.set(key, {**run, "seen_at": _iso(now)}, REPORT_TTL))

    def finished(
        self,
        row_id: int,
        name: str,
        *,
        slot: str,
        started_at: datetime,
        finished_at: datetime,
        scheduled_at: datetime | None,
        outcome: str,
        error: str | None,
        host: str,
        pid: int,
    ) -> None:
        """Report how a run of row ``row_id`` ended: ``outcome`` "ok", "error" or "cancelled"."""
        end = {
            "started_at": _iso(started_at),
            "scheduled_at": _iso(scheduled_at),
            "host": host,
            "pid": pid,
            "finished_at": _iso(finished_at),
            "duration": round((finished_at - started_at).total_seconds(), 6),
            "outcome": outcome,
            "error": trim(error, STATUS_ERROR_LIMIT) if error else None,
        }

        def write(cache: Any) -> None:
            cache.delete(run_key(row_id, slot))
            report = _report(cache.get(report_key(row_id)), row_id, name)
            report["running"] = [other for other in report["running"] if other != slot]
            _record_end(report, end)
            cache.set(report_key(row_id), {**report, "name": name}, timeout=REPORT_TTL)

        self._write(write)

    def _write(self, operation: Callable[[Any], object]) -> None:
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


#: The reporter of this (worker) process.
reporter = Reporter()


def _get_many(alias: str, keys: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in range(0, len(keys), READ_CHUNK):
        found.update(caches[alias].get_many(keys[chunk : chunk + READ_CHUNK]))
    return found


def read_reports(
    rows: Mapping[str, int], *, cache_alias: str | None = None, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Return the worker reports of the rows ``{name: pk}``, by name (those that have one).

    ``running`` is then the list of the runs going on, oldest first, each with ``overrun``
    (past its timeout); a lost run is counted and shown as failed (``lost_end``).
    """
    alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
    now = now or datetime.now(UTC)
    wanted = {report_key(row): (name, row) for name, row in rows.items()}
    reports: dict[str, dict[str, Any]] = {}
    for key, found in _get_many(alias, list(wanted)).items():
        name, row = wanted[key]
        if isinstance(found, dict) and found.get("row") == row:
            reports[name] = _report(found, row, name)
    runs = _get_many(
        alias,
        [run_key(r["row"], slot) for r in reports.values() for slot in r["running"]],
    )
    for report in reports.values():
        going = []
        for slot in report["running"]:
            run = _valid_run(runs.get(run_key(report["row"], slot)), report["row"])
            if run is None:
                continue
            if _is_lost(run, now):
                _record_end(report, lost_end(run))
                continue
            started = _time(run["started_at"])
            timeout = run.get("timeout")
            overrun = bool(timeout and started and (now - started).total_seconds() > timeout)
            going.append({**run, "overrun": overrun})
        report["running"] = sorted(going, key=lambda run: str(run["started_at"]))
    return reports


def merge_report(status: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """Return a worker row's ``status`` with its run described by the worker's ``report``.

    The enqueue's keys (``last_enqueued``, ``enqueue_outcome``…) stay; ``last_run``,
    ``last_outcome``, ``last_duration``, ``last_error``, ``run_count``, ``error_count``,
    ``running`` and ``overrun`` come from the report (None and 0 until a worker reports);
    ``worker_host``, ``worker_pid``, ``worker_running``, ``last_finished`` and
    ``last_scheduled_at`` are added.
    """
    report = report or {}
    going = report.get("running") or []
    finished = report.get("finished") or {}
    latest = going[-1] if going else {}
    running = bool(latest)
    # Where the run shown ran: the one going on, else the last finished.
    shown = latest if running else finished
    return {
        **status,
        # Like the core's: while a run goes on, last_run is its start and the outcome the
        # previous run's.
        "last_run": shown.get("started_at"),
        "last_outcome": finished.get("outcome"),
        "last_duration": finished.get("duration"),
        "last_error": finished.get("error"),
        "last_finished": finished.get("finished_at"),
        "last_scheduled_at": shown.get("scheduled_at"),
        "run_count": report.get("run_count", 0),
        "error_count": report.get("error_count", 0),
        "running": running,
        "overrun": any(run.get("overrun") for run in going),
        "worker_running": running,
        "worker_host": shown.get("host"),
        "worker_pid": shown.get("pid"),
    }
