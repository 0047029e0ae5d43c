"""What ``runscheduler`` does besides running tasks: live status, signals and Run now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.db import Error

from autosched.runrequests import Claim, claim_requests, start_claimed_runs
from autosched.scheduler import Scheduler
from autosched.signals import SignalSender
from autosched.status import StatusPublisher

__all__ = ["Operations"]

#: How the runner runs a blocking call in its database thread.
InDbThread = Callable[[Callable[[], list[Claim]]], Awaitable[list[Claim]]]
logger = logging.getLogger("autosched")


class Operations:
    """Publish a scheduler's status, send its signals and serve Run now requests."""

    def __init__(self, scheduler: Scheduler, *, using: str, info: dict[str, Any]) -> None:
        self.scheduler = scheduler
        self.using = using
        self.status = StatusPublisher(scheduler, info={"database": using, **info})
        self.signals = SignalSender(scheduler)
        #: Only the active scheduler claims Run now requests; a standby leaves them.
        self.active = True
        self._runs: set[asyncio.Task[None]] = set()

    def set_active(self, active: bool) -> None:
        """Say whether this scheduler runs tasks ("active") or waits ("standby")."""
        self.active = active
        self.status.role = "active" if active else "standby"

    def start(self) -> None:
        """Start publishing the status and sending signals (threads; never blocks the loop)."""
        self.signals.start()
        self.status.start()

    async def serve_requests(self, in_db_thread: InDbThread) -> None:
        """Claim pending Run now requests and start their runs; a database error is logged."""
        if not self.active:
            return
        try:
            claims = await in_db_thread(lambda: claim_requests(self.using))
        except Error as exc:
            logger.warning("Cannot read Run now requests (%s: %s).", type(exc).__name__, exc)
            return
        for run in start_claimed_runs(self.scheduler, claims):
            self._runs.add(run)
            run.add_done_callback(self._runs.discard)

    async def stop(self) -> None:
        """Let requested runs finish within the grace period, then stop the threads."""
        if self._runs:
            _, pending = await asyncio.wait(set(self._runs), timeout=self.scheduler.grace_period)
            for run in pending:
                run.cancel()
            if pending:
                await asyncio.wait(pending)
        # Joining the threads blocks: off the loop.
        await asyncio.to_thread(self.status.stop)
        await asyncio.to_thread(self.signals.stop)
