"""autosched's models: the schedule, its change log, the scheduler lease and Run now requests."""

from __future__ import annotations

from autosched.models.changes import ScheduleRevision, TaskChange
from autosched.models.lease import SchedulerLease
from autosched.models.periodic_task import PeriodicTask, PeriodicTaskQuerySet, RunOn
from autosched.models.run_request import RunRequest

__all__ = [
    "PeriodicTask",
    "PeriodicTaskQuerySet",
    "RunOn",
    "RunRequest",
    "ScheduleRevision",
    "SchedulerLease",
    "TaskChange",
]
