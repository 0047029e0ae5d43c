"""Sentry Crons monitors for ``runscheduler`` (``autosched[sentry]``, ``AUTOSCHED_SENTRY_CRONS``).

Each row the scheduler runs becomes a Crons monitor, upserted by its first check-in: an
interval schedule (in whole minutes, Sentry's smallest unit) and ``max_runtime`` from the
row's timeout. Each run sends ``in_progress`` as it starts, then ``ok`` or ``error`` with its
duration. The check-ins go through the Sentry SDK the project initialised (``sentry_sdk.init``);
without a client they go nowhere. A worker row's run happens in its worker, which this module
does not reach: worker rows get no monitor here.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, cast

from sentry_sdk.crons import capture_checkin

from autosched.scheduler import RunEvent, ScheduledTask, Scheduler

if TYPE_CHECKING:
    from sentry_sdk._types import MonitorConfig

    from autosched.runner.runner import SchedulerRunner

__all__ = ["SentryCrons", "monitor_config", "monitor_slug"]

#: Longest monitor slug Sentry takes.
SLUG_LIMIT = 50


def monitor_slug(name: str) -> str:
    """Return the Crons monitor slug of task ``name``: the name, made a slug if it is not one."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    if slug == name and len(slug) <= SLUG_LIMIT:
        return slug
    # Two names made the same slug must not share a monitor: a hash of the name tells them apart.
    digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    return f"{slug[: SLUG_LIMIT - 9]}-{digest}".lstrip("-")


def monitor_config(task: ScheduledTask) -> MonitorConfig:
    """Return the monitor of ``task``: its interval in whole minutes, its timeout as max runtime."""
    seconds = float(task.interval_seconds)
    if seconds % 86_400 == 0:
        schedule = {"type": "interval", "value": int(seconds // 86_400), "unit": "day"}
    elif seconds % 3600 == 0:
        schedule = {"type": "interval", "value": int(seconds // 3600), "unit": "hour"}
    else:
        # Sentry counts in minutes: a shorter or uneven interval is rounded up, so that a
        # run on time is never reported missed.
        schedule = {"type": "interval", "value": max(1, math.ceil(seconds / 60)), "unit": "minute"}
    config: dict[str, Any] = {"schedule": schedule, "checkin_margin": 1}
    if task.timeout_seconds is not None:
        config["max_runtime"] = max(1, math.ceil(task.timeout_seconds / 60))
    return cast("MonitorConfig", config)


class SentryCrons:
    """Send a Sentry Crons check-in as each run of a process row starts and ends."""

    def __init__(
        self, scheduler: Scheduler, *, worker_rows: Callable[[], Collection[str]] = frozenset
    ) -> None:
        self.scheduler = scheduler
        self.worker_rows = worker_rows
        self._check_ins: dict[str, str | None] = {}  # task name: its run's check-in id

    def attach(self) -> None:
        """Start sending check-ins."""
        self.scheduler.add_listener(self.on_run)

    def detach(self) -> None:
        """Stop sending check-ins."""
        self.scheduler.remove_listener(self.on_run)

    def on_run(self, event: RunEvent) -> None:
        """Send the check-in of a run that started or finished (a ``RunListener``)."""
        task = event.task
        if event.kind == "started":
            if task.name in self.worker_rows():
                return  # an enqueue, not the run
            self._check_ins[task.name] = capture_checkin(
                monitor_slug=monitor_slug(task.name),
                status="in_progress",
                monitor_config=monitor_config(task),
            )
        elif event.kind == "finished" and task.name in self._check_ins:
            capture_checkin(
                monitor_slug=monitor_slug(task.name),
                check_in_id=self._check_ins.pop(task.name),
                status="ok" if event.outcome == "ok" else "error",
                duration=event.duration,
            )

    @classmethod
    def for_runner(cls, runner: SchedulerRunner) -> SentryCrons:
        """Return the check-ins of ``runner``'s scheduler, sending them from now on."""
        crons = cls(runner.scheduler, worker_rows=runner.sync.worker_names)
        crons.attach()
        return crons
