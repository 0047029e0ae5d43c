"""Words for the live status, shared by the admin, its JSON view and ``schedulerstatus``."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = ["banner", "duration_words", "short_span", "task_cells"]

_SPANS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def short_span(seconds: float) -> str:
    """Say a span in its two largest units, e.g. 42 -> "42 s", 3725 -> "1 h 2 min"."""
    whole = max(0, math.floor(seconds + 0.5))
    if whole == 0:
        return "0 s"
    parts = []
    for unit, size in _SPANS:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])


def duration_words(seconds: float | None) -> str:
    """Say how long a run took, e.g. "12 ms", "3.4 s", "2 min 5 s"."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return short_span(seconds)


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
