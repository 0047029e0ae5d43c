"""The live status that ``runscheduler`` publishes: where it lives in the cache, how to read it,
and how to say it in the admin, its JSON view and ``schedulerstatus``.

The snapshot is for display only. It expires after ``AUTOSCHED_STATUS_TTL`` seconds, so a
scheduler that dies simply stops being shown; nothing, the scheduler included, ever restores
run state from it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.cache import caches

from autosched.conf import conf
from autosched.humanize import duration_words, short_span

__all__ = [
    "ERROR_TEXT_LIMIT",
    "STANDBY_KEY",
    "STATUS_KEY",
    "TASKS_KEY",
    "banner",
    "read_status",
    "task_cells",
]

logger = logging.getLogger("autosched")

#: The cache key of the active scheduler's snapshot.
STATUS_KEY = "autosched:status"
#: The status of each task, written less often than the heartbeat when there are many.
TASKS_KEY = "autosched:status:tasks"
#: Where a standby scheduler reports itself, so it never hides the active one's heartbeat.
STANDBY_KEY = "autosched:status:standby"
#: Longest last-error text published per task.
ERROR_TEXT_LIMIT = 300


def _now() -> datetime:
    return datetime.now(UTC)


def read_status(*, cache_alias: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Return the latest status with ``alive`` and ``age`` added; alive only within the TTL."""
    alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
    ttl = float(conf.STATUS_TTL)
    result: dict[str, Any] = {
        "alive": False,
        "age": None,
        "ttl": ttl,
        "cache": alias,
        "error": None,
        "scheduler": None,
        "tasks": {},
    }
    try:
        found = caches[alias].get_many([STATUS_KEY, TASKS_KEY])
    except Exception as exc:  # the admin must still work when the cache is down
        logger.warning("Cannot read the scheduler status from cache %r: %s", alias, exc)
        return {**result, "error": f"{type(exc).__name__}: {exc}"}
    heartbeat, tasks = found.get(STATUS_KEY), found.get(TASKS_KEY)
    if not isinstance(heartbeat, dict):
        return result
    published = datetime.fromisoformat(heartbeat["published_at"])
    # The cache's own expiry may be coarse (a file cache checks it only on read, by its own
    # clock): judge freshness by the publisher's timestamp too.
    age = ((now or _now()) - published).total_seconds()
    if age > ttl:
        return result
    return {
        **result,
        "alive": True,
        "age": round(max(age, 0.0), 3),
        "scheduler": heartbeat,
        "tasks": tasks["tasks"] if isinstance(tasks, dict) else {},
    }


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def task_cells(status: dict[str, Any] | None, now: datetime | None = None) -> dict[str, str]:
    """Return the admin's status cells of one task: running, next run, last run, outcome, error."""
    if status is None:
        return dict.fromkeys(("running", "next_run", "last_run", "outcome", "error", "runs"), "")
    now = now or datetime.now(UTC)
    next_run = _parse(status.get("next_run"))
    last_run = _parse(status.get("last_run"))
    if not status.get("enabled"):
        next_text = "disabled"
    elif next_run is None:
        next_text = ""
    else:
        next_text = f"in {short_span((next_run - now).total_seconds())}"
    outcome = status.get("last_outcome") or ""
    if outcome:
        outcome = f"{outcome} ({duration_words(status.get('last_duration'))})"
    return {
        "running": "running" if status.get("running") else "",
        "next_run": next_text,
        "last_run": f"{short_span((now - last_run).total_seconds())} ago" if last_run else "never",
        "outcome": outcome,
        "error": status.get("last_error") or "",
        "runs": _runs(status),
    }


def _runs(status: dict[str, Any]) -> str:
    runs, errors = status.get("run_count", 0), status.get("error_count", 0)
    return f"{runs} ({errors} failed)" if errors else str(runs)


def banner(status: dict[str, Any]) -> str:
    """Say whether a scheduler is alive, as ``read_status()`` found it."""
    scheduler = status.get("scheduler")
    if status.get("error"):
        return f"Cannot read the live status from cache {status['cache']!r}: {status['error']}"
    if not status.get("alive") or not scheduler:
        return f"No scheduler has reported in the last {status['ttl']:g} s."
    since = datetime.fromisoformat(scheduler["started_at"]).strftime("%Y-%m-%d %H:%M:%S %Z")
    role = "" if scheduler.get("role", "active") == "active" else f" ({scheduler['role']})"
    return (
        f"Scheduler alive{role} on host {scheduler['host']}, pid {scheduler['pid']}, "
        f"since {since}; {scheduler['tasks_enabled']} of {scheduler['tasks_loaded']} "
        "task(s) enabled."
    )
