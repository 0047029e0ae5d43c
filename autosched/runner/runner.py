"""The loop behind ``runscheduler``: a ``Scheduler`` kept in sync with the database, run while
this process holds the lease, with its status published and its signals sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, Error, connections

from autosched.conf import (
    conf,
    valid_grace_period,
    valid_max_workers,
    valid_missed_slot_grace,
    valid_sync_interval,
)
from autosched.defaults import sync_defaults
from autosched.models.run_request import claim_requests
from autosched.runner.bulk import EnqueueBatcher
from autosched.runner.identity import Identity
from autosched.runner.leadership import Leadership, Role
from autosched.runner.publisher import StatusPublisher
from autosched.runner.run_now import start_claimed_runs
from autosched.runner.signal_sender import SignalSender
from autosched.runner.sync import Changes, TaskSync
from autosched.scheduler import Scheduler
from autosched.scheduler.logs import event

__all__ = ["MAX_BACKOFF", "SchedulerRunner"]

T = TypeVar("T")
logger = logging.getLogger("autosched")

#: Longest wait between two sync attempts while the database is failing.
MAX_BACKOFF = 30.0
#: Longest wait for the sync thread to close its connection on the way out.
CLOSE_TIMEOUT = 5.0


class _GaveUp(Exception):
    """A database call not waited for: a stop was requested while it went on (or before)."""


class SchedulerRunner:
    """Run a ``Scheduler`` while holding the lease; apply database changes every interval.

    The runner alone starts and stops the scheduler, when the lease is gained or lost and at
    the end; the role ("active" or "standby") is the lease's, read from ``leadership``.
    """

    def __init__(
        self,
        *,
        sync_interval: float | None = None,
        using: str = DEFAULT_DB_ALIAS,
        scheduler: Scheduler | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.sync_interval = valid_sync_interval(
            conf.SYNC_INTERVAL if sync_interval is None else sync_interval, "sync_interval"
        )
        self.using = using
        #: Seconds back a process that becomes active looks for a slot nobody ran.
        self.missed_slot_grace = valid_missed_slot_grace(conf.MISSED_SLOT_GRACE)
        #: Who this process is, to the lease, to Run now claims and in the heartbeat.
        self.identity = identity or Identity()
        #: The lease that makes this process the one active scheduler among many.
        self.leadership = Leadership(using, identity=self.identity)
        if scheduler is None:
            scheduler = Scheduler(
                grace_period=valid_grace_period(conf.GRACE_PERIOD),
                max_workers=valid_max_workers(conf.MAX_WORKERS),
                # The fence at the last moment: a run that waited for a thread must not start
                # after the lease may have passed to another process.
                gate=self.leadership.holds,
            )
        self.scheduler = scheduler
        # Worker rows' enqueues ask the lease too, right before each batch goes out.
        self.sync = TaskSync(using, batcher=EnqueueBatcher(gate=self.leadership.holds))
        self.publisher = StatusPublisher(
            scheduler,
            identity=self.identity,
            role=lambda: self.role,
            worker_rows=self.sync.worker_names,
            info={"database": using, "sync_interval": self.sync_interval},
        )
        self.signals = SignalSender(scheduler)
        #: Called after this process gains or loses the lease, from whichever thread noticed.
        self.lease_listeners: list[Callable[[], None]] = []
        #: Consecutive failed syncs; 0 while the database answers.
        self.failures = 0
        self._loaded = False
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._scheduler_run: asyncio.Task[None] | None = None
        # What request_stop() wakes: the wait for a database call, while one goes on.
        self._stop_waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._given_up: Future[Any] | None = None  # the call a stop stopped waiting for
        # All database work goes through this one thread, so the process holds one
        # connection for syncing (Django connections are per thread) and the loop never blocks.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosched-sync")

    @property
    def role(self) -> Role:
        """Return "active" while this process holds the lease and may launch runs."""
        return self.leadership.role

    async def _in_db_thread(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, func)

    async def _in_db_thread_until_stop(self, func: Callable[[], T]) -> T:
        """Run ``func`` in the database thread; raise ``_GaveUp`` if a stop comes first.

        A database that hangs (a black-holed connection: no answer, no error) would hold the
        loop in this wait forever, and a stop with it. The call itself cannot be cut short:
        its thread is left to it, and ``runscheduler`` exits without waiting for it.
        """
        if self._stop_requested:
            raise _GaveUp
        call: Future[T] = self._db.submit(func)
        answer = asyncio.wrap_future(call)
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        self._stop_waiter = (loop, stop)
        try:
            # Checked after the waiter is set: a stop requested meanwhile sees the waiter.
            if not self._stop_requested:
                await asyncio.wait((answer, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._stop_waiter = None
        if answer.done():
            return answer.result()
        answer.cancel()  # nobody will read its outcome: asyncio must not log it as lost
        self._given_up = call
        raise _GaveUp

    @property
    def database_hung(self) -> bool:
        """Return whether a database call that a stop gave up on still goes on."""
        return self._given_up is not None and not self._given_up.done()

    async def load(self) -> None:
        """Create missing default rows and load every row into the scheduler.

        Returns without loading when a stop is requested while the database does not answer.
        """
        try:
            await self._in_db_thread_until_stop(lambda: sync_defaults(using=self.using))
            changes = await self._in_db_thread_until_stop(self.sync.reload)
        except _GaveUp:
            return
        await self.sync.apply_in_slices(self.scheduler, changes)
        self._loaded = True

    async def run(self) -> None:
        """Run tasks and sync changes until ``request_stop()``; load first if not yet done."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        try:
            if not self._loaded and not self._stop_requested:
                await self.load()
            if self._stop_requested:
                return
            async with contextlib.AsyncExitStack() as stack:
                # Each start pushes its stop, and on the way out the stops run in reverse:
                # the scheduler stops launching and drains every run (Run now's included)
                # while the lease is still held; only then is the lease released, so that no
                # standby can start a task that still runs here; then the publisher and the
                # signal sender stop.
                self.signals.start()
                stack.push_async_callback(asyncio.to_thread, self.signals.stop)
                self.publisher.start()
                stack.push_async_callback(asyncio.to_thread, self.publisher.stop)
                self.leadership.on_change = self._lease_changed
                self.leadership.start()
                stack.push_async_callback(asyncio.to_thread, self.leadership.close)
                stack.push_async_callback(self._stop_scheduler)
                # Rows are synced whether or not this process is active, so that a standby
                # taking over starts with the schedule as it is.
                await self._sync_until_stopped()
        finally:
            self.leadership.on_change = None
            self._loop = self._wakeup = None
            await self.aclose()

    async def aclose(self) -> None:
        """Close the sync thread's database connection and end the thread (``run()`` does)."""
        self.sync.batcher.close()  # the enqueue threads close theirs as they end
        if self.database_hung:
            # Its thread holds the connection, and the close would queue behind the call.
            self._db.shutdown(wait=False)
            return
        # Bounded: a database that hangs (no answer, no error) must not hold up the exit.
        with contextlib.suppress(RuntimeError, Error, TimeoutError):
            await asyncio.wait_for(self._in_db_thread(self._close_connection), CLOSE_TIMEOUT)
        self._db.shutdown(wait=False)

    @property
    def stop_requested(self) -> bool:
        """Return whether ``request_stop()`` was called."""
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask ``run()`` to stop; safe from any thread or a signal handler."""
        self._stop_requested = True
        self.scheduler.stop()  # stop launching at once; the drain comes on the way out
        self.leadership.mark_stopped_launching()
        self._wake()
        waiter = self._stop_waiter
        if waiter is not None:
            loop, stop = waiter
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(_set_once, stop)

    def _wake(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wakeup.set)

    def _lease_changed(self) -> None:
        self._wake()
        for listener in self.lease_listeners:
            listener()

    def _close_connection(self) -> None:
        connections[self.using].close()  # in the DB thread: connections are per thread

    async def _sleep(self, seconds: float) -> None:
        assert self._wakeup is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    async def _follow_the_lease(self) -> None:
        """Start the scheduler when the lease is ours, stop it when it is not."""
        run = self._scheduler_run
        if self._stop_requested:
            return
        if self.leadership.holds():
            if run is None or run.done():
                if run is not None:
                    run.result()  # a scheduler that died must not be restarted in silence
                catch_up, since = self._catch_up()
                self._scheduler_run = run = asyncio.create_task(
                    self.scheduler.start(catch_up=catch_up, since=since)
                )
                run.add_done_callback(lambda _: self._wake())
                await asyncio.sleep(0)  # let it start: Run now needs it running
        elif run is not None and not run.done():
            self.scheduler.stop()  # the gate already refuses runs; this stops the timer

    def _catch_up(self) -> tuple[float, datetime | None]:
        """Return the missed slots the scheduler runs as it starts: start()'s arguments."""
        handover, self.leadership.handover = self.leadership.handover, None
        if handover is None:
            # After a crash, or at a first start: AUTOSCHED_MISSED_SLOT_GRACE alone.
            return self.missed_slot_grace, None
        # After a graceful stop: every slot since it, if taken in time, else the grace; and
        # never a slot at or before it, which the stopping scheduler ran or skipped.
        return math.inf if handover.in_time else self.missed_slot_grace, handover.since

    async def _stop_scheduler(self) -> None:
        """Stop launching runs and wait for every run in flight (the grace period applies)."""
        run = self._scheduler_run
        if run is None:
            return
        self.scheduler.stop()
        await run

    async def _sync_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        # Syncs start on a fixed grid, not one interval after the last sync ended, so that a
        # change waits at most one interval (plus one sync) whatever a sync costs.
        due = loop.time() + self.sync_interval
        while True:
            await self._follow_the_lease()
            await self._sleep(max(0.0, due - loop.time()))
            if self._stop_requested:
                logger.info(
                    "Stopping: letting running tasks finish (up to %.1f s). "
                    "Press Ctrl-C again to exit at once.",
                    self.scheduler.grace_period,
                    extra=event("scheduler_stopping"),
                )
                return
            if loop.time() < due:
                continue  # woken early: the lease changed hands, or the scheduler stopped
            changes = await self.sync_once()
            if changes is not None:
                applied = self.sync.changes_applied
                await self.sync.apply_in_slices(self.scheduler, changes)
                if self.sync.changes_applied != applied:
                    self.publisher.changed()  # the admin waits to see the edit applied
                await self._serve_run_now()
            now = loop.time()
            if self.failures:
                due = now + self.backoff()
            else:
                # Skip grid points missed by a slow sync rather than syncing back to back.
                due += self.sync_interval * max(1, math.ceil((now - due) / self.sync_interval))

    async def _serve_run_now(self) -> None:
        """Claim pending Run now requests and start their runs (active scheduler only)."""
        if not (self.leadership.holds() and self.scheduler.is_running()):
            return  # a standby leaves the requests to the active scheduler
        claimer = str(self.identity)
        try:
            claims = await self._in_db_thread_until_stop(
                lambda: claim_requests(self.using, claimer=claimer)
            )
        except _GaveUp:
            return
        except Error as exc:
            logger.warning(
                "Cannot read Run now requests (%s: %s).",
                type(exc).__name__,
                exc,
                extra=event("sync_failed"),
            )
            return
        start_claimed_runs(self.scheduler, claims)

    async def sync_once(self) -> Changes | None:
        """Read changes (everything after a failure); on a database error log it and return None."""
        recovering = self.failures > 0
        try:
            changes = await self._in_db_thread_until_stop(
                self.sync.reload if recovering else self.sync.poll
            )
        except _GaveUp:
            return None  # stopping: the run loop sees it next
        except Error as exc:
            self.failures += 1
            # One line per failure, not a traceback: the cause is the database, not our code.
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            logger.warning(
                "Cannot sync periodic tasks from database %r (%s: %s); retrying in %.1f s. "
                "Tasks keep running as last read.",
                self.using,
                type(exc).__name__,
                first_line,
                self.backoff(),
                extra=event("sync_failed"),
            )
            # Drop the broken connection so that the next attempt opens a fresh one.
            with contextlib.suppress(Error, _GaveUp):
                await self._in_db_thread_until_stop(self._close_connection)
            return None
        if recovering:
            logger.info(
                "Database %r answers again after %d failed sync(s); reloaded every task.",
                self.using,
                self.failures,
                extra=event("sync_recovered"),
            )
            self.failures = 0
        return changes

    def backoff(self) -> float:
        """Return the seconds to wait before the next sync: doubling after each failure."""
        if not self.failures:
            return self.sync_interval
        return min(MAX_BACKOFF, self.sync_interval * 2.0**self.failures)


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
