"""Serve Run now: claim the requests the admin wrote and start their runs in the scheduler.

The requests and how they are claimed are in ``autosched.models.run_request``. Runs started
here go through ``Scheduler.run_now``: the same no-overlap rule, in-flight set and drain as
scheduled runs, so a stopping scheduler waits for them before it gives up the lease.
"""

from __future__ import annotations

import logging
from datetime import datetime

from autosched.models.run_request import Claim
from autosched.scheduler import Scheduler, TaskNotFoundError
from autosched.scheduler.logs import event

__all__ = ["start_claimed_runs"]

logger = logging.getLogger("autosched")


def start_claimed_runs(scheduler: Scheduler, claims: list[Claim]) -> int:
    """Start a run of each claimed task now; return how many started."""
    started = 0
    for claim in claims:
        by = claim.requested_by or "?"
        try:
            # The run's slot is when it was asked for (by the database's clock).
            running = not scheduler.run_now(claim.name, scheduled_at=_aware(claim.requested_at))
        except RuntimeError:  # the scheduler stopped meanwhile (the lease ended, or a stop)
            logger.warning(
                "Run request for %r by %s dropped: the scheduler is stopping.",
                claim.name,
                by,
                extra=event("run_now_dropped", claim.name),
            )
            continue
        except TaskNotFoundError:
            logger.warning(
                "Run request for %r by %s dropped: the task is not loaded "
                "(unregistered function or bad row; see earlier warnings).",
                claim.name,
                by,
                extra=event("run_now_dropped", claim.name),
            )
            continue
        if running:
            # The no-overlap rule holds for Run now too; asking again later is the remedy.
            logger.warning(
                "Run request for %r by %s dropped: the task is running already.",
                claim.name,
                by,
                extra=event("run_now_dropped", claim.name),
            )
            continue
        logger.info(
            "Running %r now, as %s asked.", claim.name, by, extra=event("run_now", claim.name)
        )
        started += 1
    return started


def _aware(moment: datetime) -> datetime | None:
    # With USE_TZ = False the database hands back naive times, in a zone that depends on the
    # backend: rather than guess, the run then gets this host's "now" (run_now's default).
    return moment if moment.tzinfo is not None else None
