"""Publish a scheduler's live status to Django's cache, for the admin and ``schedulerstatus``.

What is published, and how it is read, is described in ``autosched.status``. Besides the
status the core reports, the publisher keeps, in memory only, the last runs of each task and
the traceback of its last error, heard from the scheduler's run events.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.cache import caches
from django.db import connections

import autosched
from autosched.conf import conf, valid_status_ttl
from autosched.runner.collector import collector_paused
from autosched.runner.identity import Identity
from autosched.runner.recent_runs import RecentRuns, trim
from autosched.scheduler import RunEvent, Scheduler
from autosched.status import (
    LAST_KNOWN_TTL,
    STANDBY_KEY,
    STATUS_KEY,
    TASKS_KEY,
    slice_tasks,
)

__all__ = ["StatusPublisher", "as_enqueue"]

logger = logging.getLogger("autosched")


#: A heartbeat comes every ``every`` seconds, give or take this share of it (of 1 s at most).
JITTER = 0.1


def _now() -> datetime:
    return datetime.now(UTC)


def as_enqueue(status: dict[str, Any]) -> None:
    """Say a worker row's status as what it is here: the enqueue, not the run.

    The core's run of a worker row is the enqueue; it is published as ``last_enqueued``,
    ``enqueue_outcome``, ``enqueue_error``, ``enqueue_duration``, ``enqueue_count`` and
    ``enqueue_error_count`` (``enqueuing`` while it goes on). The run's own keys are left
    empty here: ``read_status`` fills them from the worker's report (``autosched.reports``).
    """
    status.update(
        run_on="worker",
        last_enqueued=status["last_run"],
        enqueue_outcome=status["last_outcome"],
        enqueue_error=status["last_error"],
        enqueue_duration=status["last_duration"],
        enqueue_count=status["run_count"],
        enqueue_error_count=status["error_count"],
        enqueuing=status["running"],
        last_run=None,
        last_outcome=None,
        last_error=None,
        last_duration=None,
        run_count=0,
        error_count=0,
        running=False,
        running_for=None,
    )


class StatusPublisher:
    """Publish a ``Scheduler``'s status every second and soon after each run starts or ends.

    Two cache keys: a small heartbeat, written every second whatever the number of tasks, and
    the tasks' status. Building the latter takes the scheduler's lock for a time that grows
    with the number of tasks, so it is spaced out to use at most ``1 / COST_FACTOR`` of the
    time (every second up to thousands of tasks; every ~20 s with 100,000).

    The heartbeat lives ``ttl`` seconds: it says a scheduler is alive. The tasks' status, and
    each task's recent runs (one key per task, written when they changed), live
    ``LAST_KNOWN_TTL``: once the scheduler is gone the admin shows them greyed, "as of" when
    they were written. A standby writes only its heartbeat, into the standbys' directory.
    """

    #: Wait at least this many times the cost of the last tasks snapshot before the next.
    COST_FACTOR = 50

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        info: Mapping[str, Any] | None = None,
        identity: Identity | None = None,
        role: Callable[[], str] = lambda: "active",
        worker_rows: Callable[[], Collection[str]] = frozenset,
        cache_alias: str | None = None,
        ttl: float | None = None,
        every: float = 1.0,
        min_gap: float = 0.2,
        settle: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheduler = scheduler
        self.info = dict(info or {})
        self.cache_alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
        self.ttl = valid_status_ttl(conf.STATUS_TTL if ttl is None else ttl, "ttl")
        self.identity = identity or Identity()
        #: Asked at each write: "active" runs tasks, "standby" waits for the lease.
        self.role = role
        #: Asked at each tasks snapshot: the names of the tasks that enqueue to a worker, or
        #: ``{name: pk}`` of their rows (published as ``row_id``, which their reports go by).
        self.worker_rows = worker_rows
        self.every = every
        # Runs may start and end thousands of times a second: they only mark the snapshot
        # dirty, and it is written at most once per ``min_gap``.
        self.min_gap = min_gap
        #: Seconds a change waits before it is written, so that short runs show ended.
        self.settle = settle
        self.published = 0  # tasks snapshots written so far
        self.beats = 0  # heartbeats written so far
        self.started_at = _now()
        self._clock = clock
        self._dirty = False
        self._dirty_at = -math.inf  # when the snapshot became dirty (the loop's clock)
        self._wake = threading.Event()
        self._jitter = random.Random()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failing = False
        self._cost = 0.0  # seconds the last tasks snapshot took to build and write
        self._counts = (0, 0)  # tasks loaded and enabled, as of the last tasks snapshot
        self._tasks_at: str | None = None
        self._slice_keys: list[str] = []  # of the last tasks snapshot written
        self._was_active = False
        self._published_as_active = False  # tasks written since this process became active
        self._in_standbys = False  # listed in the standbys' directory
        #: The last runs of each task, heard from the scheduler's run events.
        self.recent = RecentRuns()

    def start(self) -> None:
        """Publish now and every second from a background thread, until ``stop()``."""
        if self._thread is not None:
            return
        self._stopping = False
        self.scheduler.add_listener(self._on_run)
        # The cache backend may block (a network or database round trip): never on the loop.
        self._thread = threading.Thread(target=self._loop, name="autosched-status", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing and remove the snapshot, so the scheduler stops counting as alive."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.scheduler.remove_listener(self._on_run)
        self._stopping = True
        self._wake.set()
        thread.join(self.ttl)  # bounded: a hung cache call must not hold up the exit

    def _on_run(self, event: RunEvent) -> None:
        # Runs on the loop thread: note the run, flag the change.
        self.recent.heard(event)
        self.changed()

    def changed(self) -> None:
        """Say the tasks changed (a run, or rows the sync applied): publish them soon.

        Soon is ``min_gap`` after the last snapshot and ``settle`` after the change, rather
        than the ``every`` of an unchanged status: an edit saved in the admin shows there
        within a second. Waking the thread once is enough.
        """
        if not self._dirty:
            self._dirty_at = self._clock()
            self._dirty = True
            self._wake.set()

    def recent_runs(self, name: str) -> list[dict[str, Any]]:
        """Return the last runs of task ``name`` heard by this publisher, newest first."""
        return self.recent.of(name)

    def _tasks_gap(self) -> float:
        gap = self.min_gap if self._dirty else self.every
        return max(gap, self.COST_FACTOR * self._cost)

    def _tasks_due(self, last_tasks: float) -> float:
        """Return when the next tasks snapshot is due (the loop's clock)."""
        due = last_tasks + self._tasks_gap()
        if self._dirty:
            # A moment after the change: a run that lasts a few milliseconds is then shown
            # ended, not caught running by a snapshot taken as it started.
            due = max(due, self._dirty_at + self.settle)
        return due

    def _loop(self) -> None:
        last_beat = last_tasks = -math.inf
        while not self._stopping:
            now = self._clock()
            # Standbys started together would read and write their shared directory in step,
            # each dropping the other's entry at every beat: a jitter breaks the step.
            jittered = now + min(self.every, 1.0) * self._jitter.uniform(-JITTER, JITTER)
            if now >= self._tasks_due(last_tasks):
                last_tasks = last_beat = jittered
                self.publish()
            elif now >= last_beat + self.every:
                last_beat = jittered
                self.publish_heartbeat()
            else:
                wait = min(last_beat + self.every, self._tasks_due(last_tasks)) - now
                self._wake.wait(wait)
                self._wake.clear()
        if self._published_as_active:
            # Active to the end (the lease was released a moment ago, after the drain): the
            # last known status, with the runs that ended on the way out.
            self.publish_tasks()
        self._write(self._withdraw)
        connections.close_all()  # this thread's own, if the cache is a database

    def _withdraw(self, cache: Any) -> None:
        # Remove the heartbeat this process wrote, so that it stops counting as alive; the
        # tasks' status stays, shown "as of" its time. A standby leaves the directory.
        if self._was_active:
            cache.delete(STATUS_KEY)
        if self._in_standbys:
            self._leave_standbys(cache)

    def heartbeat(self) -> dict[str, Any]:
        """Return the heartbeat: who publishes, since when, and how many tasks it holds."""
        loaded, enabled = self._counts
        return {
            **self.info,
            "host": self.identity.host,
            "pid": self.identity.pid,
            "identity": str(self.identity),
            "started_at": self.started_at.isoformat(),
            "published_at": _now().isoformat(),
            "version": autosched.__version__,
            "role": self.role(),
            "tasks_loaded": loaded,
            "tasks_enabled": enabled,
            "tasks_published_at": self._tasks_at,
        }

    def tasks_status(self) -> dict[str, dict[str, Any]]:
        """Return the status of every task, with its last error trimmed."""
        self._dirty = False  # before reading, so a run ending meanwhile marks it again
        tasks = self.scheduler.get_all_tasks_status()
        workers = self.worker_rows()
        for name, status in tasks.items():
            status["last_error"] = trim(status.get("last_error"))
            if name in workers:
                as_enqueue(status)
                if isinstance(workers, Mapping):  # the row's pk, which its reports go by
                    status["row_id"] = workers[name]
            else:
                status["run_on"] = "process"
        self._counts = (len(tasks), sum(1 for status in tasks.values() if status["enabled"]))
        return tasks

    def snapshot(self) -> dict[str, Any]:
        """Return what ``publish()`` writes: the tasks' status and a heartbeat."""
        tasks = self.tasks_status()
        return {"scheduler": self.heartbeat(), "tasks": tasks}

    def publish(self) -> None:
        """Write the tasks' status and a heartbeat now; a cache error is logged, never raised."""
        if self.role() == "active":
            self.publish_tasks()
        self.publish_heartbeat()

    def publish_tasks(self) -> None:
        """Write the tasks' status and the runs that changed (the active scheduler only)."""
        began = time.perf_counter()
        published_at = _now().isoformat()
        with collector_paused(freeze=False):
            # A dict per task: at 100,000 tasks, enough new objects for a full collection,
            # which would scan them with the GIL held (up to 0.1 s in which the loop waits).
            # They are gone again before the collector resumes: only bytes are kept.
            statuses = self.tasks_status()
            # Each snapshot's slices under keys of their own, so that a reader of one page
            # reads one slice; the index under TASKS_KEY names them.
            index, slices = slice_tasks(statuses, uuid.uuid4().hex[:16])
            tasks = {
                "published_at": published_at,
                "identity": str(self.identity),
                "host": self.identity.host,
                "pid": self.identity.pid,
                "tasks": {},
                "slices": index,
            }
            runs = self.recent.to_write(statuses)
            del statuses

        def write(cache: Any) -> None:
            cache.set_many(slices, timeout=LAST_KNOWN_TTL)
            cache.set(TASKS_KEY, tasks, timeout=LAST_KNOWN_TTL)
            # This process's previous snapshot: a reader that read its index a moment ago
            # reads the new one instead. (Another process's, after a failover, expires.)
            if self._slice_keys:
                cache.delete_many(self._slice_keys)
            self._slice_keys = list(slices)
            if runs:
                cache.set_many(runs, timeout=LAST_KNOWN_TTL)

        if self._write(write):
            self.published += 1
            self._tasks_at = published_at
            self._published_as_active = True
        else:
            self.recent.write_again(runs)  # written next time instead
        self._cost = time.perf_counter() - began

    def publish_heartbeat(self) -> None:
        """Write the heartbeat now; a cache error is logged, never raised."""
        beat = self.heartbeat()
        if beat["role"] == "active":
            if not self._published_as_active:
                # Just became active: the tasks first, or the heartbeat would vouch for
                # another scheduler's (readers also check whose they are).
                self.publish_tasks()
                beat = self.heartbeat()
            self._was_active = True
            if self._in_standbys:
                self._write(self._leave_standbys)
            if self._write(lambda cache: cache.set(STATUS_KEY, beat, timeout=self.ttl)):
                self.beats += 1
            return
        self._published_as_active = False
        if self._write(lambda cache: self._join_standbys(cache, beat)):
            self.beats += 1

    # A standby cannot know the others, so the standbys share one directory, {identity: beat},
    # read and written back by each at its heartbeat; what an unlucky race drops for a second
    # is written again at the next. The active scheduler never reads the cache.

    def _join_standbys(self, cache: Any, beat: dict[str, Any]) -> None:
        standbys = self._fresh_standbys(cache)
        standbys[beat["identity"]] = beat
        cache.set(STANDBY_KEY, standbys, timeout=self.ttl)
        self._in_standbys = True

    def _leave_standbys(self, cache: Any) -> None:
        standbys = self._fresh_standbys(cache)
        if standbys.pop(str(self.identity), None) is not None:
            cache.set(STANDBY_KEY, standbys, timeout=self.ttl)
        self._in_standbys = False

    def _fresh_standbys(self, cache: Any) -> dict[str, Any]:
        found = cache.get(STANDBY_KEY)
        if not isinstance(found, dict):
            return {}
        now = _now()
        return {
            identity: beat
            for identity, beat in found.items()
            if isinstance(beat, dict)
            and (now - datetime.fromisoformat(beat["published_at"])).total_seconds() <= self.ttl
        }

    def _write(self, operation: Callable[[Any], object]) -> bool:
        try:
            operation(caches[self.cache_alias])
        except Exception as exc:  # a broken cache must never break the scheduler
            if not self._failing:
                logger.warning(
                    "Cannot publish the scheduler status to cache %r (%s: %s); retrying.",
                    self.cache_alias,
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
            # A database cache may have left this thread a broken connection.
            connections.close_all()
            return False
        if self._failing:
            logger.info("Publishing the scheduler status to %r again.", self.cache_alias)
            self._failing = False
        return True
