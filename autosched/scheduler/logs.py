"""The ``extra`` keys of autosched's log records, so that a JSON formatter can rely on them.

Every record of the ``"autosched"`` logger carries ``autosched_event`` (what happened, one of
``EVENTS`` or ``"log"`` for a record without a named event), ``task``, ``slot`` (ISO 8601),
``outcome`` and ``duration_s`` (seconds), each None where it does not apply. The records of
runs, enqueues and the lease name their event where they are logged; ``EventFilter``, on the
logger, gives every other record the same keys.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

__all__ = ["EVENTS", "KEYS", "EventFilter", "event"]

#: The keys every autosched log record carries.
KEYS = ("autosched_event", "task", "slot", "outcome", "duration_s")

#: The events named by autosched's log records; a record of none of them says "log".
EVENTS = frozenset(
    {
        # a run, in the scheduler or on a worker
        "started",
        "finished",
        "skipped",
        "missed",
        "overrun",
        "not_started",
        "schedule_failed",
        "listener_failed",
        "run_now",
        "run_now_dropped",
        # enqueues of worker rows
        "enqueued",
        "enqueue_failed",
        "enqueue_recovered",
        # the scheduler's life
        "scheduler_started",
        "scheduler_stopping",
        "scheduler_stopped",
        "draining",
        "runs_cancelled",
        "runs_abandoned",
        # the lease
        "report_refused",
        "run_lost",
        "lease_acquired",
        "lease_lost",
        "lease_released",
        "lease_release_failed",
        "lease_held_elsewhere",
        "lease_unreachable",
        "lease_reachable",
        # the sync
        "sync_failed",
        "sync_recovered",
        "log",
    }
)


def event(
    name: str,
    task: str | None = None,
    *,
    slot: datetime | str | None = None,
    outcome: str | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """Return the ``extra`` of a log record of event ``name``: every key of ``KEYS``."""
    return {
        "autosched_event": name,
        "task": task,
        "slot": slot.isoformat() if isinstance(slot, datetime) else slot,
        "outcome": outcome,
        "duration_s": round(duration_s, 6) if duration_s is not None else None,
    }


_DEFAULTS = event("log")


class EventFilter(logging.Filter):
    """Give a record logged without autosched's keys those keys (``autosched_event="log"``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "autosched_event"):
            record.__dict__.update(_DEFAULTS)
        return True


def install(logger: logging.Logger) -> None:
    """Put one ``EventFilter`` on ``logger`` (again: no second one)."""
    if not any(isinstance(known, EventFilter) for known in logger.filters):
        logger.addFilter(EventFilter())


install(logging.getLogger("autosched"))
