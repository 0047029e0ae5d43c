"""The loop behind ``runscheduler``: a ``Scheduler`` kept in sync with the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import NoReturn, TypeVar

from django.db import DEFAULT_DB_ALIAS, Error, connections

from autosched.conf import conf
from autosched.leadership import Leadership
from autosched.operations import Operations
from autosched.registry import sync_defaults
from autosched.runs import RUN_THREAD_PREFIX
from autosched.scheduler import Scheduler
from autosched.sync import Changes, TaskSync

T = TypeVar("T")
logger = logging.getLogger("autosched")

#: Longest wait between two sync attempts while the database is failing.
MAX_BACKOFF = 30.0
#: Exit status of a forced stop (a second Ctrl-C), as a shell reports death by SIGINT.
FORCED_EXIT_STATUS = 130


def check_sync_interval(value: object, label: str = "sync_interval") -> float:
    """Return ``value`` as seconds between syncs, or raise naming it (``label`` says what)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{label} must be a number of seconds, not {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{label} must be more than 0 seconds, not {value!r}.")
    return float(value)


class SchedulerRunner:
    """Run a ``Scheduler`` and apply database changes to it every ``sync_interval`` seconds."""

    def __init__(
        self,
        *,
        sync_interval: float | None = None,
        using: str = DEFAULT_DB_ALIAS,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.sync_interval = check_sync_interval(
            conf.SYNC_INTERVAL if sync_interval is None else sync_interval
        )
        self.using = using
        if scheduler is None:
            scheduler = Scheduler(grace_period=conf.GRACE_PERIOD, max_workers=conf.MAX_WORKERS)
        self.scheduler = scheduler
        #: The lease that makes this process the one active scheduler among many.
        self.leadership = Leadership(using)
        self.sync = TaskSync(using, guard=self.leadership.holds)
        #: Live status, signals and Run now requests.
        self.operations = Operations(
            scheduler, using=using, info={"sync_interval": self.sync_interval}
        )
        self.operations.set_active(False)  # a standby until the lease is ours
        #: Consecutive failed syncs; 0 while the database answers.
        self.failures = 0
        self._loaded = False
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        # All database work goes through this one thread, so the process holds one
        # connection for syncing (Django connections are per thread) and the loop never blocks.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosched-sync")

    async def _in_db_thread(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, func)

    async def load(self) -> None:
        """Create missing default rows and load every row into the scheduler."""
        await self._in_db_thread(lambda: sync_defaults(using=self.using))
        changes = await self._in_db_thread(self.sync.reload)
        self.sync.apply(self.scheduler, changes)
        self._loaded = True

    async def run(self) -> None:
        """Run tasks and sync changes until ``request_stop()``; load first if not yet done."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        try:
            if not self._loaded:
                await self.load()
            if self._stop_requested:
                return
            self.operations.start()
            # Rows are synced whether or not this process is the active scheduler, so that a
            # standby taking over starts with the schedule as it is.
            running = asyncio.create_task(
                self.leadership.serve(self.scheduler, on_change=self.operations.set_active)
            )
            try:
                await self._sync_until_stopped()
            finally:
                self.scheduler.stop()
                self.leadership.resign()
                try:
                    await running
                finally:
                    await self.operations.stop()
        finally:
            self._loop = self._wakeup = None
            await self.aclose()

    async def aclose(self) -> None:
        """Close the sync thread's database connection and end the thread (``run()`` does)."""
        with contextlib.suppress(RuntimeError, Error):  # a closed executor or a dead database
            await self._in_db_thread(self._close_connection)
        self._db.shutdown(wait=False)

    @property
    def stop_requested(self) -> bool:
        """Return whether ``request_stop()`` was called."""
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask ``run()`` to stop; safe from any thread or a signal handler."""
        self._stop_requested = True
        self.scheduler.stop()
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wakeup.set)

    def _close_connection(self) -> None:
        connections[self.using].close()  # in the DB thread: connections are per thread

    async def _sleep(self, seconds: float) -> None:
        assert self._wakeup is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _sync_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        # Syncs start on a fixed grid, not one interval after the last sync ended, so that a
        # change waits at most one interval (plus one sync) whatever a sync costs.
        due = loop.time() + self.sync_interval
        while True:
            await self._sleep(max(0.0, due - loop.time()))
            if self._stop_requested:
                logger.info(
                    "Stopping: letting running tasks finish (up to %.1f s). "
                    "Press Ctrl-C again to exit at once.",
                    self.scheduler.grace_period,
                )
                return
            changes = await self.sync_once()
            if changes is not None:
                self.sync.apply(self.scheduler, changes)
                await self.operations.serve_requests(self._in_db_thread)
            now = loop.time()
            if self.failures:
                due = now + self.backoff()
            else:
                # Skip grid points missed by a slow sync rather than syncing back to back.
                due += self.sync_interval * max(1, math.ceil((now - due) / self.sync_interval))

    async def sync_once(self) -> Changes | None:
        """Read changes (everything after a failure); on a database error log it and return None."""
        recovering = self.failures > 0
        try:
            changes = await self._in_db_thread(self.sync.reload if recovering else self.sync.poll)
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
            )
            # Drop the broken connection so that the next attempt opens a fresh one.
            with contextlib.suppress(Error):
                await self._in_db_thread(self._close_connection)
            return None
        if recovering:
            logger.warning(
                "Database %r answers again after %d failed sync(s); reloaded every task.",
                self.using,
                self.failures,
            )
            self.failures = 0
        return changes

    def backoff(self) -> float:
        """Return the seconds to wait before the next sync: doubling after each failure."""
        if not self.failures:
            return self.sync_interval
        return min(MAX_BACKOFF, self.sync_interval * 2.0**self.failures)


def threads_blocking_exit(timeout: float = 1.0) -> list[threading.Thread]:
    """Return the threads still running a sync task after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    blocking = []
    for thread in threading.enumerate():
        # Only our run threads: an idle worker of some other pool (asgiref's, say) is told to
        # end by concurrent.futures at interpreter exit and holds nothing up.
        if thread.daemon or not thread.name.startswith(RUN_THREAD_PREFIX):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            blocking.append(thread)
    return blocking


@contextlib.contextmanager
def capture_signals(
    runner: SchedulerRunner, *, force_exit: Callable[[int], NoReturn] = os._exit
) -> Iterator[None]:
    """Stop ``runner`` on SIGINT/SIGTERM, force an exit on a second SIGINT; restore handlers."""
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may set handlers (call_command from a thread, say).
        yield
        return
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if received and signum == signal.SIGINT:
            with contextlib.suppress(Exception):  # flushing from a handler may re-enter
                sys.stdout.flush()
                sys.stderr.flush()
            os.write(2, b"Forced exit: running tasks were not waited for.\n")
            force_exit(FORCED_EXIT_STATUS)
        received.append(signum)
        runner.request_stop()

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, handle) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            logger.info("Stopped on %s.", ", then ".join(signal.Signals(s).name for s in received))
