"""Publish a scheduler's live status to Django's cache, for the admin and ``schedulerstatus``.

What is published, and how it is read, is described in ``autosched.status``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.cache import caches
from django.db import connections

import autosched
from autosched.conf import conf, valid_status_ttl
from autosched.runner.identity import Identity
from autosched.scheduler import RunEvent, Scheduler
from autosched.status import ERROR_TEXT_LIMIT, STANDBY_KEY, STATUS_KEY, TASKS_KEY

__all__ = ["StatusPublisher"]

logger = logging.getLogger("autosched")


def _now() -> datetime:
    return datetime.now(UTC)


def _trim(text: str | None) -> str | None:
    if text is None or len(text) <= ERROR_TEXT_LIMIT:
        return text
    return text[: ERROR_TEXT_LIMIT - 1] + "…"


class StatusPublisher:
    """Publish a ``Scheduler``'s status every second and soon after each run starts or ends.

    Two cache keys: a small heartbeat, written every second whatever the number of tasks, and
    the tasks' status. Building the latter takes the scheduler's lock for a time that grows
    with the number of tasks, so it is spaced out to use at most ``1 / COST_FACTOR`` of the
    time (every second up to thousands of tasks; every ~20 s with 100,000).
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
        cache_alias: str | None = None,
        ttl: float | None = None,
        every: float = 1.0,
        min_gap: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheduler = scheduler
        self.info = dict(info or {})
        self.cache_alias = conf.STATUS_CACHE if cache_alias is None else cache_alias
        self.ttl = valid_status_ttl(conf.STATUS_TTL if ttl is None else ttl, "ttl")
        self.identity = identity or Identity()
        #: Asked at each write: "active" runs tasks, "standby" waits for the lease.
        self.role = role
        self.every = every
        # Runs may start and end thousands of times a second: they only mark the snapshot
        # dirty, and it is written at most once per ``min_gap``.
        self.min_gap = min_gap
        self.published = 0  # tasks snapshots written so far
        self.beats = 0  # heartbeats written so far
        self.started_at = _now()
        self._clock = clock
        self._dirty = False
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failing = False
        self._cost = 0.0  # seconds the last tasks snapshot took to build and write
        self._counts = (0, 0)  # tasks loaded and enabled, as of the last tasks snapshot
        self._tasks_at: str | None = None
        self._was_active = False

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
        # Runs on the loop thread: only flag the change; waking the thread once is enough.
        if not self._dirty:
            self._dirty = True
            self._wake.set()

    def _tasks_gap(self) -> float:
        gap = self.min_gap if self._dirty else self.every
        return max(gap, self.COST_FACTOR * self._cost)

    def _loop(self) -> None:
        last_beat = last_tasks = -math.inf
        while not self._stopping:
            now = self._clock()
            if now >= last_tasks + self._tasks_gap():
                last_tasks = last_beat = now
                self.publish()
            elif now >= last_beat + self.every:
                last_beat = now
                self.publish_heartbeat()
            else:
                wait = min(last_beat + self.every, last_tasks + self._tasks_gap()) - now
                self._wake.wait(wait)
                self._wake.clear()
        self._write(self._withdraw)
        connections.close_all()  # this thread's own, if the cache is a database

    def _withdraw(self, cache: Any) -> None:
        # Remove what this process wrote (never reading the cache back): the active one's
        # keys if it ever was the active scheduler, else its standby heartbeat.
        cache.delete_many([STATUS_KEY, TASKS_KEY] if self._was_active else [STANDBY_KEY])

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
        for status in tasks.values():
            status["last_error"] = _trim(status.get("last_error"))
        self._counts = (len(tasks), sum(1 for status in tasks.values() if status["enabled"]))
        return tasks

    def snapshot(self) -> dict[str, Any]:
        """Return what ``publish()`` writes: the tasks' status and a heartbeat."""
        tasks = self.tasks_status()
        return {"scheduler": self.heartbeat(), "tasks": tasks}

    def publish(self) -> None:
        """Write the tasks' status and a heartbeat now; a cache error is logged, never raised."""
        if self.role() == "active":
            began = time.perf_counter()
            published_at = _now().isoformat()
            tasks = {"published_at": published_at, "tasks": self.tasks_status()}
            # Kept until the next one is surely written, however far apart they are spaced.
            timeout = self.ttl + self.COST_FACTOR * self._cost + self.every
            if self._write(lambda cache: cache.set(TASKS_KEY, tasks, timeout=timeout)):
                self.published += 1
                self._tasks_at = published_at
            self._cost = time.perf_counter() - began
        self.publish_heartbeat()

    def publish_heartbeat(self) -> None:
        """Write the heartbeat now; a cache error is logged, never raised."""
        beat = self.heartbeat()
        self._was_active = self._was_active or beat["role"] == "active"
        if self._write(lambda cache: cache.set(self._key(), beat, timeout=self.ttl)):
            self.beats += 1

    def _key(self) -> str:
        return STATUS_KEY if self.role() == "active" else STANDBY_KEY

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
            logger.warning("Publishing the scheduler status to %r again.", self.cache_alias)
            self._failing = False
        return True
