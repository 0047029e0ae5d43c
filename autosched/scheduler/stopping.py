"""How a stopping scheduler ends its runs: wait, then cancel, then give up, all bounded.

After the grace period an async run is cancelled; a sync run cannot be, so it is abandoned to
its thread and said to be so, never "cancelled". A cancelled run that swallows its
cancellation is waited for ``CANCEL_WAIT`` seconds at most: no run can keep the process, and
the lease a standby waits for, forever. The worst case is grace period + ``CANCEL_WAIT``.
"""

from __future__ import annotations

import asyncio
import logging

from autosched.scheduler.logs import event
from autosched.scheduler.runs import RunExecutor
from autosched.scheduler.task import ScheduledTask

__all__ = ["CANCEL_WAIT", "drain"]

logger = logging.getLogger("autosched")

#: Seconds a stopping scheduler waits for cancelled async runs to end before it gives up.
CANCEL_WAIT = 2.0


async def drain(
    inflight: dict[asyncio.Task[None], ScheduledTask], grace_period: float, runs: RunExecutor
) -> list[str]:
    """Wait for ``inflight`` runs; return the names of the tasks whose runs were given up on."""
    logger.info(
        "Waiting up to %.1f s for %d running task(s) to finish.",
        grace_period,
        len(inflight),
        extra=event("draining"),
    )
    _, pending = await asyncio.wait(set(inflight), timeout=grace_period)
    if not pending:
        return []
    tasks = {run: inflight[run] for run in pending}
    stuck_sync = sorted(task.name for task in tasks.values() if not task.is_async)
    cancelled = sorted(task.name for task in tasks.values() if task.is_async)
    if cancelled:
        logger.warning(
            "Cancelling %d async run(s) still going after the %.1f s grace period: %s.",
            len(cancelled),
            grace_period,
            ", ".join(map(repr, cancelled)),
            extra=event("runs_cancelled"),
        )
    if stuck_sync:
        logger.warning(
            "Abandoning %d sync run(s) still going after the %.1f s grace period: %s "
            "(a sync function cannot be stopped; it goes on in its thread).",
            len(stuck_sync),
            grace_period,
            ", ".join(map(repr, stuck_sync)),
            extra=event("runs_abandoned"),
        )
    for run, task in tasks.items():
        if not task.is_async:
            runs.abandoned.add(task)
        run.cancel()
    _, ignored = await asyncio.wait(pending, timeout=CANCEL_WAIT)
    deaf = sorted(tasks[run].name for run in ignored)
    if deaf:
        logger.error(
            "Giving up on %d async run(s) that ignored cancellation for %.1f s: %s.",
            len(deaf),
            CANCEL_WAIT,
            ", ".join(map(repr, deaf)),
            extra=event("runs_abandoned"),
        )
    return sorted({*stuck_sync, *deaf})
