"""One active scheduler among many: a lease in the database, renewed by a thread of its own.

Every ``runscheduler`` process tries to claim the lease row every ``AUTOSCHED_LEASE_RENEW``
seconds; the one that holds it renews it and is *active*, the others stand by. Expiry is
computed by the database's clock, so clock skew between hosts does not matter. This process's
idea of how long it may still act is measured on its own monotonic clock from the *start* of
its last successful renewal, minus a margin, so it stops launching runs before the row can
expire and pass to another process: no slot runs twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from django.db import DEFAULT_DB_ALIAS, Error, connections

from autosched.conf import MARGIN_SHARE, conf, valid_lease
from autosched.models import SchedulerLease
from autosched.models.lease import LeaseClaim
from autosched.runner.identity import Identity
from autosched.scheduler.logs import event

__all__ = ["Handover", "Leadership", "Role"]

logger = logging.getLogger("autosched")

Role = Literal["active", "standby"]
#: A process taking the lease after a graceful stop runs each task's latest slot that nobody
#: ran since, if the old scheduler stopped launching at most this many seconds before.
HANDOVER_WINDOW = 5.0


@dataclass(frozen=True)
class Handover:
    """A graceful stop that this process took the lease after."""

    #: When the previous holder stopped launching runs, by this host's wall clock (aware).
    since: datetime
    #: Seconds from that stop until this process took the lease (the database's clock).
    gap: float

    @property
    def in_time(self) -> bool:
        """Return whether the lease was taken soon enough to run the slots missed since."""
        return self.gap <= HANDOVER_WINDOW


def _say_time(moment: datetime) -> str:
    # The database's clock: aware UTC with USE_TZ, else naive in the database's own zone.
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M:%S} by the database's clock"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


#: Seconds between a standby's claims (at most; never more often than the renew interval).
STANDBY_POLL = 0.5
#: Seconds before the first retry after a database error (doubling up to the renew interval).
RETRY_AFTER_ERROR = 0.25


class Leadership:
    """Hold the scheduler lease while possible; say at any moment whether this process may act."""

    def __init__(
        self,
        using: str = DEFAULT_DB_ALIAS,
        *,
        name: str = "default",
        identity: Identity | None = None,
        ttl: float | None = None,
        renew_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.using = using
        self.name = name
        self.ttl, self.renew_every = valid_lease(
            conf.LEASE_TTL if ttl is None else ttl,
            conf.LEASE_RENEW if renew_every is None else renew_every,
        )
        self.holder = str(identity or Identity())
        #: Called after this process gains or loses the lease, from whichever thread noticed.
        self.on_change: Callable[[], None] | None = None
        self.failures = 0  # consecutive failed attempts (database errors)
        self._clock = clock
        self._wall_clock = wall_clock
        self._valid_until: float | None = None  # local monotonic deadline while active
        self._last_holder: str | None = None
        #: The graceful stop this process last took the lease after, until the runner reads it.
        self.handover: Handover | None = None
        #: ``time.monotonic()`` when this process stopped launching runs, once it has.
        self.stopped_launching: float | None = None
        self._cond = threading.Condition()  # guards the deadline; wakes the threads
        self._transition = threading.Lock()
        self._closing = False
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<Leadership {self.name!r} {self.role} as {self.holder}>"

    # -- state (any thread) ----------------------------------------------------------------

    def holds(self) -> bool:
        """Return whether this process may launch runs now (lease held, not about to end)."""
        deadline = self._valid_until  # one read, no lock: called before every run
        return deadline is not None and self._clock() < deadline

    @property
    def role(self) -> Role:
        """Return "active" while this process holds the lease, else "standby"."""
        return "active" if self.holds() else "standby"

    def _set_valid_until(
        self,
        deadline: float | None,
        reason: str = "",
        *,
        unless_renewed: float | None = None,
        quiet: bool = False,
    ) -> None:
        # One transition at a time, each announced before the next: the renewal and the
        # watchdog threads both come here.
        with self._transition:
            with self._cond:
                if unless_renewed is not None and self._valid_until != unless_renewed:
                    return
                was = self._valid_until is not None
                self._valid_until = deadline
                self._cond.notify_all()
            if was == (deadline is not None):
                return
            if deadline is not None:
                logger.info(
                    "Acquired the scheduler lease %r as %s: this process is the active scheduler.",
                    self.name,
                    self.holder,
                    extra=event("lease_acquired"),
                )
            elif not quiet:
                logger.warning(
                    "Lost the scheduler lease %r (%s): standing by.",
                    self.name,
                    reason,
                    extra=event("lease_lost"),
                )
            if self.on_change is not None:
                self.on_change()

    # -- talking to the database (blocking: the lease thread, or tests) --------------------

    def attempt(self) -> bool:
        """Claim or renew the lease once; return whether this process holds it now."""
        started = self._clock()
        try:
            claim = SchedulerLease.claim(self.name, self.holder, self.ttl, using=self.using)
            if not claim.won:
                self._report_holder()
        except Error as exc:
            self._report_failure(exc)
            return self.holds()
        if self.failures:
            logger.info(
                "Database %r answers the lease thread again.",
                self.using,
                extra=event("lease_reachable"),
            )
            self.failures = 0
        if claim.won:
            if not self.holds():
                self.handover = self._handover(claim)
            self._set_valid_until(started + self.ttl * (1 - MARGIN_SHARE))
        else:
            self._set_valid_until(None, "another process holds it")
        return claim.won

    def _handover(self, claim: LeaseClaim) -> Handover | None:
        """Return the graceful stop this claim took the lease after (None: a crash, or none)."""
        # The released row says when its holder stopped launching runs, and the claim that
        # took it, as read, proves that nobody held the lease since: whoever takes it, a
        # standby or a process started after the stop, knows which slots nobody ran.
        handed_over_at, db_time = claim.handed_over_at, claim.db_time
        if handed_over_at is None or db_time is None:
            return None
        gap = db_time - handed_over_at
        # Written by the database's clock; slots are read on this host's. The stop as this
        # host saw it: ``gap`` before the claim (read after it, so never before the true stop:
        # a slot the old holder ran just before stopping is not run again).
        handover = Handover(since=self._wall_clock() - gap, gap=gap.total_seconds())
        logger.info(
            "Taking over from a graceful stop %.1f s ago: %s.",
            handover.gap,
            "each task's latest slot since then runs now"
            if handover.in_time
            else "the slots since then are not run",
            extra=event("lease_acquired"),
        )
        return handover

    def mark_stopped_launching(self) -> None:
        """Note that this process stopped launching runs now (said in the lease at release)."""
        if self.stopped_launching is None:
            self.stopped_launching = self._clock()

    def release(self, stopped_ago: float = 0.0) -> None:
        """Give the lease up at once, so that a standby takes over without waiting.

        ``stopped_ago``: how many seconds ago this process stopped launching runs.
        """
        self._set_valid_until(None, quiet=True)
        try:
            if SchedulerLease.release(
                self.name, self.holder, using=self.using, stopped_ago=stopped_ago
            ):
                logger.info(
                    "Released the scheduler lease %r.", self.name, extra=event("lease_released")
                )
        except Error as exc:
            logger.warning(
                "Cannot release the scheduler lease %r: %s",
                self.name,
                exc,
                extra=event("lease_release_failed"),
            )

    def _report_holder(self) -> None:
        lease = SchedulerLease.current(self.name, using=self.using)
        holder = lease.holder if lease is not None and not lease.released else None
        if holder != self._last_holder and lease is not None and holder is not None:
            logger.info(
                "Standing by: the scheduler lease %r is held by %s (until %s).",
                self.name,
                lease.holder,
                _say_time(lease.expires_at),
                extra=event("lease_held_elsewhere"),
            )
        self._last_holder = holder

    def _report_failure(self, exc: Error) -> None:
        self.failures += 1
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # One warning per outage, not one every renewal interval.
        level = logging.WARNING if self.failures == 1 else logging.DEBUG
        logger.log(
            level,
            "Cannot reach database %r to claim the scheduler lease: %s",
            self.using,
            text,
            extra=event("lease_unreachable"),
        )
        with contextlib.suppress(Error):  # a fresh connection next time
            connections[self.using].close()

    # -- the threads -----------------------------------------------------------------------

    def start(self) -> None:
        """Start claiming and renewing in a thread with its own database connection."""
        if self._threads:
            return
        self._closing = False
        self._threads = [
            threading.Thread(target=self._renew_loop, name="autosched-lease", daemon=True),
            threading.Thread(target=self._watch, name="autosched-lease-watch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads, releasing the lease if held (blocking)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def _renew_loop(self) -> None:
        # Django connections are per thread: this thread's is the lease's own, so a busy sync
        # thread or event loop can never hold up a renewal.
        try:
            while True:
                self.attempt()
                delay = self.renew_every
                if self.role == "standby":
                    # A lease released by a graceful stop is free at once: notice it soon.
                    delay = min(delay, STANDBY_POLL)
                if self.failures:
                    # Soon after a first error (a lock timeout, a dropped connection), then
                    # less and less often while the database stays away.
                    delay = min(delay, RETRY_AFTER_ERROR * 2 ** (self.failures - 1))
                with self._cond:
                    if self._cond.wait_for(lambda: self._closing, delay):
                        break
            stopped = self.stopped_launching
            self.release(0.0 if stopped is None else max(self._clock() - stopped, 0.0))
        finally:
            with contextlib.suppress(Error):
                connections[self.using].close()

    def _watch(self) -> None:
        # Fence on a timer of its own: a renewal stuck in a dead connection cannot keep an
        # active scheduler launching runs after its lease may have passed to another.
        while True:
            with self._cond:
                if self._closing:
                    return
                deadline = self._valid_until
                if deadline is None:
                    self._cond.wait()
                    continue
                remaining = deadline - self._clock()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
            reason = f"not renewed for {self.ttl * (1 - MARGIN_SHARE):g} s"
            self._set_valid_until(None, reason, unless_renewed=deadline)
