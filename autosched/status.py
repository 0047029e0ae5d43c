"""The live status that ``runscheduler`` publishes: where it lives in the cache, how to read it,
and how to say it in the admin, its JSON view and ``schedulerstatus``.

The snapshot is for display only. Its heartbeat expires after ``AUTOSCHED_STATUS_TTL``
seconds, so a scheduler that dies stops being shown as alive; the tasks' status and their
recent runs stay longer (``LAST_KNOWN_TTL``), to be shown greyed, "as of" their time. Nothing,
the scheduler included, ever restores run state from it.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import logging
import pickle
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils.translation import gettext, ngettext

from autosched.conf import conf
from autosched.humanize import ago, duration_words, in_span, short_span
from autosched.reports import merge_report, read_reports

__all__ = [
    "ERROR_TEXT_LIMIT",
    "LAST_KNOWN_TTL",
    "RECENT_RUNS",
    "STANDBY_KEY",
    "STATUS_KEY",
    "TASKS_KEY",
    "banner",
    "cache_is_local",
    "outcome_words",
    "pack_tasks",
    "read_runs",
    "read_status",
    "runs_key",
    "say_time",
    "slice_tasks",
    "task_cells",
    "task_state",
    "unpack_tasks",
]

logger = logging.getLogger("autosched")

#: The cache key of the active scheduler's heartbeat.
STATUS_KEY = "autosched:status"
#: The status of each task, written less often than the heartbeat when there are many, and
#: kept long after it (the last known status).
TASKS_KEY = "autosched:status:tasks"
#: The standbys' heartbeats, ``{identity: heartbeat}``, so they never hide the active one's.
STANDBY_KEY = "autosched:status:standby"
#: Longest last-error text published per task.
ERROR_TEXT_LIMIT = 300
#: Seconds the tasks' status and recent runs stay in the cache: a week.
LAST_KNOWN_TTL = 7 * 86_400
#: How many runs of each task the publisher keeps, in memory only, and publishes.
RECENT_RUNS = 20
#: Tasks per pickled slice of the tasks' status (see ``pack_tasks``).
PACKED_SLICE = 2000


def pack_tasks(tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the tasks' status to write under ``TASKS_KEY``: pickled, a slice at a time.

    The cache pickles what it is given in one call, which holds the interpreter: at 100,000
    tasks that stalled the scheduler's event loop for about 0.1 s at each write. Pickled
    here in slices of ``PACKED_SLICE`` tasks, it lets the loop run between two; the cache then
    only copies the bytes. ``unpack_tasks`` reads it back.
    """
    items = list(tasks.items())
    return {
        "tasks": {},
        "packed_tasks": [
            pickle.dumps(dict(items[start : start + PACKED_SLICE]), pickle.HIGHEST_PROTOCOL)
            for start in range(0, len(items), PACKED_SLICE)
        ],
    }


#: The cache keys of the slices of one snapshot of the tasks' status start with this, then
#: the snapshot's token and the slice's number (see ``slice_tasks``).
SLICE_PREFIX = "autosched:status:tasks:"


def slice_tasks(
    tasks: dict[str, dict[str, Any]], token: str
) -> tuple[list[list[str]], dict[str, bytes]]:
    """Return ``tasks`` pickled in slices of ``PACKED_SLICE`` names, in name order.

    Returns the index, ``[[first name, key], ...]``, and ``{key: pickled slice}`` to write
    under keys of their own: a reader wanting a page of the admin's list (in name order)
    bisects the index and reads one or two slices, not all of them. The names are sorted a
    slice at a time, then merged, so that the GIL is never held for a whole sort.
    """
    names = list(tasks)
    runs = [
        sorted(names[start : start + PACKED_SLICE]) for start in range(0, len(names), PACKED_SLICE)
    ]
    ordered = list(heapq.merge(*runs))
    index: list[list[str]] = []
    slices: dict[str, bytes] = {}
    for number, start in enumerate(range(0, len(ordered), PACKED_SLICE)):
        chunk = ordered[start : start + PACKED_SLICE]
        key = f"{SLICE_PREFIX}{token}:{number}"
        index.append([chunk[0], key])
        slices[key] = pickle.dumps({name: tasks[name] for name in chunk}, pickle.HIGHEST_PROTOCOL)
    return index, slices


def slice_keys(index: object, names: Iterable[str] | None = None) -> list[str]:
    """Return the keys of the slices in ``index`` that hold ``names`` (None: every slice)."""
    if not isinstance(index, list) or not index:
        return []
    if names is None:
        return [key for _, key in index]
    starts = [start for start, _ in index]
    wanted = {bisect.bisect_right(starts, name) - 1 for name in names}
    return [index[number][1] for number in sorted(wanted) if number >= 0]


class SliceGone(LookupError):
    """A slice the index names is not in the cache: a newer snapshot replaced it meanwhile."""


def read_tasks(
    cache: Any, written: dict[str, Any], names: Iterable[str] | None = None, *, strict: bool = True
) -> dict[str, dict[str, Any]]:
    """Return the tasks' status (those named ``names``, or all) from what was written.

    Reads what ``slice_tasks`` wrote, or what an earlier version wrote (``pack_tasks``'s
    slices, or a plain ``tasks`` dict). Raise ``SliceGone`` when a slice is missing, unless
    not ``strict`` (the cache evicted it: the other slices are still worth showing).
    """
    wanted = None if names is None else set(names)
    tasks = unpack_tasks(written)
    keys = slice_keys(written.get("slices"), wanted)
    if keys:
        found = cache.get_many(keys)
        if strict and len(found) < len(keys):
            raise SliceGone(f"{len(keys) - len(found)} slice(s) of the tasks' status are gone")
        for key in keys:
            if key in found:
                # The cache itself unpickles what it holds: these bytes are no less trusted.
                tasks.update(pickle.loads(found[key]))
    if wanted is None:
        return tasks
    return {name: tasks[name] for name in wanted if name in tasks}


def unpack_tasks(written: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the tasks' status from what ``pack_tasks`` wrote (or a plain ``tasks`` dict)."""
    tasks = dict(written.get("tasks") or {})
    for packed in written.get("packed_tasks") or ():
        # The cache itself unpickles what it holds: these bytes are no less trusted.
        tasks.update(pickle.loads(packed))
    return tasks


def _now() -> datetime:
    return datetime.now(UTC)


def runs_key(name: str) -> str:
    """Return the cache key of task ``name``'s recent runs (a hash: any name, any backend)."""
    return "autosched:runs:" + hashlib.blake2b(name.encode(), digest_size=12).hexdigest()


def cache_is_local(alias: str | None = None) -> bool:
    """Return whether the status cache lives in one process only (``autosched.W002``)."""
    alias = conf.STATUS_CACHE if alias is None else alias
    try:
        return isinstance(caches[alias], LocMemCache | DummyCache)
    except Exception:  # not configured: autosched.E005 says so
        return False


def _age(beat: dict[str, Any], now: datetime) -> float:
    return (now - datetime.fromisoformat(beat["published_at"])).total_seconds()


def read_status(
    *,
    cache_alias: str | None = None,
    now: datetime | None = None,
    with_tasks: bool = True,
    names: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Return the latest status with ``alive`` and ``age`` added; alive only within the TTL.

    ``names``: read only these tasks' status and their workers' reports (a page of the
    admin's list), whatever the number of tasks; None reads every task.

    Also ``standbys`` (the standbys' heartbeats) and, when no scheduler is alive,
    ``last_known``: the tasks' status last published, with when and by whom, or None. A
    worker row's run, in both, is the one its worker reported (``autosched.reports``).
    ``with_tasks=False`` reads the heartbeats alone (``tasks`` empty, ``last_known`` None):
    a cost that does not grow with the number of tasks.
    """
    alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
    ttl = float(conf.STATUS_TTL)
    now = now or _now()
    names = None if names is None else set(names)
    result: dict[str, Any] = {
        "alive": False,
        "age": None,
        "ttl": ttl,
        "cache": alias,
        "error": None,
        "scheduler": None,
        "tasks": {},
        "standbys": [],
        "last_known": None,
    }
    try:
        cache = caches[alias]
        keys = [STATUS_KEY, STANDBY_KEY, *([TASKS_KEY] if with_tasks else [])]
        found = cache.get_many(keys)
        heartbeat, tasks, standbys = (found.get(k) for k in (STATUS_KEY, TASKS_KEY, STANDBY_KEY))
        statuses = _read_written(cache, tasks, names)
    except Exception as exc:  # the admin must still work when the cache is down
        logger.warning("Cannot read the scheduler status from cache %r: %s", alias, exc)
        return {**result, "error": f"{type(exc).__name__}: {exc}"}
    if statuses is None:
        tasks = None
    else:
        tasks, written = statuses
        rest = {k: v for k, v in written.items() if k not in ("packed_tasks", "slices")}
        tasks = {**rest, "tasks": _with_reports(tasks, alias)}
    # The cache's own expiry may be coarse (a file cache checks it only on read, by its own
    # clock): judge freshness by the publisher's timestamps too.
    if isinstance(standbys, dict):
        result["standbys"] = sorted(
            (beat for beat in standbys.values() if _age(beat, now) <= ttl),
            key=lambda beat: (beat["host"], beat["pid"]),
        )
    if not isinstance(heartbeat, dict) or _age(heartbeat, now) > ttl:
        return {**result, "last_known": tasks}
    ours = tasks is not None and tasks.get("identity", heartbeat.get("identity")) == heartbeat.get(
        "identity"
    )
    return {
        **result,
        "alive": True,
        "age": round(max(_age(heartbeat, now), 0.0), 3),
        "scheduler": heartbeat,
        # A long-lived snapshot of another scheduler is not this one's live status.
        "tasks": tasks["tasks"] if tasks is not None and ours else {},
        "standbys": [b for b in result["standbys"] if b["identity"] != heartbeat.get("identity")],
    }


def _read_written(
    cache: Any, written: object, names: Iterable[str] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]] | None:
    """Return the tasks' status and the index it came from, or None when none was written."""
    for attempt in range(3):
        if not isinstance(written, dict):
            return None
        try:
            return read_tasks(cache, written, names, strict=attempt < 2), written
        except SliceGone:
            # A newer snapshot replaced this one between the two reads: read its index.
            written = cache.get(TASKS_KEY)
    return None


def _with_reports(tasks: dict[str, dict[str, Any]], alias: str) -> dict[str, dict[str, Any]]:
    """Return ``tasks`` with each worker row's run as its worker reported it."""
    # A worker row's reports go by its pk, published as ``row_id`` (none: no report read).
    workers = {
        name: status["row_id"]
        for name, status in tasks.items()
        if status.get("run_on") == "worker"
        and isinstance(status.get("row_id"), int)
        and not isinstance(status.get("row_id"), bool)
    }
    if not workers:
        return tasks
    try:
        reports = read_reports(workers, cache_alias=alias)
    except Exception as exc:  # the enqueues are still worth showing
        logger.warning("Cannot read the worker reports from cache %r: %s", alias, exc)
        reports = {}
    return {
        name: _sound(merge_report(status, _sound_report(reports.get(name))))
        if status.get("run_on") == "worker"
        else status
        for name, status in tasks.items()
    }


#: What each key of a worker's report, merged into a status, must be; anything else is None.
_TIMES = ("last_run", "last_finished", "last_scheduled_at")
_TEXTS = ("last_outcome", "last_error", "worker_host")
_COUNTS = ("run_count", "error_count")


def _sound_report(report: Any) -> dict[str, Any] | None:
    """Return a worker's report with its runs as dicts (or None), whatever a cache holds."""
    if not isinstance(report, dict):
        return None
    return {
        **report,
        "started": report.get("started") if isinstance(report.get("started"), dict) else None,
        "finished": report.get("finished") if isinstance(report.get("finished"), dict) else None,
    }


def _sound(status: dict[str, Any]) -> dict[str, Any]:
    """Return ``status`` with the values its worker reported checked, one by one.

    A report is written by any process that can reach the cache: a number where a time goes
    would otherwise break the list and ``schedulerstatus`` for every user.
    """
    for key in _TIMES:
        if _parse_time(status.get(key)) is None:
            status[key] = None
    for key in _TEXTS:
        if not isinstance(status.get(key), str):
            status[key] = None
    for key in _COUNTS:
        value = status.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            status[key] = 0
    duration = status.get("last_duration")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        status["last_duration"] = None
    pid = status.get("worker_pid")
    if isinstance(pid, bool) or not isinstance(pid, int):
        status["worker_pid"] = None
    status["running"] = status["worker_running"] = bool(status.get("running"))
    return status


def _parse_time(value: object) -> datetime | None:
    """Return an ISO 8601 text as an aware datetime, or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def read_runs(name: str, *, cache_alias: str | None = None) -> dict[str, Any] | None:
    """Return task ``name``'s recent runs and last traceback as published, or None."""
    alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
    try:
        found = caches[alias].get(runs_key(name))
    except Exception as exc:
        logger.warning("Cannot read the recent runs from cache %r: %s", alias, exc)
        return None
    return found if isinstance(found, dict) and found.get("name") == name else None


# -- saying it ---------------------------------------------------------------------------


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def say_time(moment: datetime | str) -> str:
    """Say an instant in UTC, to the second: "2026-11-27 10:12:27 UTC"."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def outcome_words(outcome: str | None) -> str:
    """Say a run's outcome: "ok", "failed", "timed out", "cancelled"."""
    if outcome is None:
        return ""
    words = {
        "ok": gettext("ok"),
        "error": gettext("failed"),
        "timeout": gettext("timed out"),
        "cancelled": gettext("cancelled"),
    }
    return words.get(outcome, outcome)


#: Outcomes that make a task *failing*.
FAILED = ("error", "timeout")


def task_state(status: dict[str, Any] | None) -> str:
    """Return what the admin's outcome filter and colours go by.

    "failing" (the last run failed or timed out, a run overruns its timeout, or the last
    enqueue failed), "running", "never" (never ran), "ok", "cancelled", or "unknown".
    """
    if status is None:
        return "unknown"
    if (
        status.get("overrun")
        or status.get("last_outcome") in FAILED
        or status.get("enqueue_outcome") == "error"
    ):
        return "failing"
    if status.get("running"):
        return "running"
    if not status.get("last_run") and not status.get("run_count"):
        return "never"
    outcome = status.get("last_outcome")
    if outcome in (None, "ok", "cancelled"):
        return "cancelled" if outcome == "cancelled" else "ok"
    return "unknown"  # an outcome this version does not know: never shown as ok


def _worker_place(status: dict[str, Any]) -> str:
    host, pid = status.get("worker_host"), status.get("worker_pid")
    if host and pid:
        return gettext("on host %(host)s, pid %(pid)s") % {"host": host, "pid": pid}
    if host:
        return gettext("on host %(host)s") % {"host": host}
    return ""


def task_cells(status: dict[str, Any] | None, now: datetime | None = None) -> dict[str, str]:
    """Return one task's status in words, cell by cell, for the admin and ``schedulerstatus``.

    Keys: running, next_run, last_run, outcome (with its duration), error, runs, and for a
    worker row enqueue (the scheduler's part) and worker (where the worker ran it).
    """
    cells = dict.fromkeys(
        ("running", "next_run", "last_run", "outcome", "error", "runs", "enqueue", "worker"), ""
    )
    if status is None:
        return cells
    now = now or _now()
    next_run = _parse(status.get("next_run"))
    last_run = _parse(status.get("last_run"))
    if status.get("running"):
        running_for = status.get("running_for")
        if running_for is None and last_run is not None:
            running_for = (now - last_run).total_seconds()
        span = short_span(running_for or 0)
        if status.get("overrun"):
            cells["running"] = gettext("overrunning its timeout, for %(span)s") % {"span": span}
        else:
            cells["running"] = gettext("running for %(span)s") % {"span": span}
    if not status.get("enabled"):
        cells["next_run"] = gettext("disabled")
    elif next_run is not None:
        cells["next_run"] = in_span((next_run - now).total_seconds())
    cells["last_run"] = ago((now - last_run).total_seconds()) if last_run else gettext("never")
    if outcome := status.get("last_outcome"):
        duration = duration_words(status.get("last_duration"))
        words = outcome_words(outcome)
        cells["outcome"] = f"{words} ({duration})" if duration else words
    cells["error"] = status.get("last_error") or ""
    cells["runs"] = _runs(status)
    if status.get("run_on") == "worker":
        cells["worker"] = _worker_place(status)
        cells["enqueue"] = _enqueue(status, now)
    return cells


def _enqueue(status: dict[str, Any], now: datetime) -> str:
    enqueued = _parse(status.get("last_enqueued"))
    when = ago((now - enqueued).total_seconds()) if enqueued else ""
    if status.get("enqueue_outcome") == "error":
        error = status.get("enqueue_error") or ""
        return gettext("enqueue failed %(when)s: %(error)s") % {"when": when, "error": error}
    if enqueued:
        return gettext("enqueued %(when)s") % {"when": when}
    return ""


def _runs(status: dict[str, Any]) -> str:
    runs, errors = status.get("run_count", 0), status.get("error_count", 0)
    if errors:
        return ngettext("%(runs)d (%(errors)d failed)", "%(runs)d (%(errors)d failed)", errors) % {
            "runs": runs,
            "errors": errors,
        }
    return str(runs)


def _who(beat: dict[str, Any]) -> str:
    return gettext("%(host)s (pid %(pid)s)") % {"host": beat["host"], "pid": beat["pid"]}


def _standbys(status: dict[str, Any]) -> str:
    standbys = status.get("standbys") or []
    if not standbys:
        return ""
    return ngettext(
        "%(count)d standby on %(hosts)s", "%(count)d standbys on %(hosts)s", len(standbys)
    ) % {"count": len(standbys), "hosts": ", ".join(_who(beat) for beat in standbys)}


def banner(status: dict[str, Any], *, detail: bool = True) -> str:
    """Say whether a scheduler is alive, as ``read_status()`` found it.

    ``detail=False`` leaves out what only an administrator can act on (a cache's error text).
    """
    scheduler = status.get("scheduler")
    if status.get("error"):
        if not detail:
            return gettext("The live status cannot be read right now.")
        return gettext("Cannot read the live status from cache %(cache)r: %(error)s") % {
            "cache": status["cache"],
            "error": status["error"],
        }
    if cache_is_local(status.get("cache")):
        return gettext(
            "Live status is unavailable: the status cache %(cache)r (%(backend)s) lives in "
            "each process, so the scheduler's status never reaches this one "
            "(autosched.W002). Point AUTOSCHED_STATUS_CACHE at a shared cache."
        ) % {"cache": status["cache"], "backend": type(caches[status["cache"]]).__name__}
    if not status.get("alive") or not scheduler:
        text = gettext("No scheduler has reported in the last %(ttl)s s.") % {
            "ttl": f"{status['ttl']:g}"
        }
        if standbys := _standbys(status):
            text += " " + gettext("%(standbys)s, none active.") % {"standbys": standbys}
        if last := status.get("last_known"):
            text += " " + gettext(
                "Showing the last known status, as of %(time)s (from %(who)s)."
            ) % {"time": say_time(last["published_at"]), "who": _who(last)}
        return text
    text = gettext(
        "Scheduler alive: 1 active on %(who)s since %(since)s; %(enabled)s of %(loaded)s "
        "task(s) enabled."
    ) % {
        "who": _who(scheduler),
        "since": say_time(scheduler["started_at"]),
        "enabled": scheduler["tasks_enabled"],
        "loaded": scheduler["tasks_loaded"],
    }
    if standbys := _standbys(status):
        text += " " + standbys + "."
    return text
