"""Change capture: database triggers log every write to ``PeriodicTask`` as a numbered change.

The scheduler process reads ``TaskChange`` rows above the last revision it has seen, so an
idle sync costs one indexed query whatever the table size, and no write path (admin, ORM,
``bulk_create()``, ``queryset.update()``/``delete()``, raw SQL) can bypass it.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class ScheduleRevision(models.Model):
    """Hold the single counter (row id 1) that every change to a periodic task increments."""

    # Always 1: the migration creates the only row and the triggers update it.
    id = models.SmallIntegerField(primary_key=True, default=1)
    revision = models.BigIntegerField(default=0)

    class Meta:
        app_label = "autosched"
        db_table = "autosched_schedulerevision"

    def __str__(self) -> str:
        return f"revision {self.revision}"


class TaskChange(models.Model):
    """Record that the periodic task ``task_id`` was inserted, updated or deleted."""

    revision = models.BigIntegerField(primary_key=True)
    # No foreign key: a deleted task must still be logged, and the trigger writes this row.
    task_id = models.BigIntegerField()
    changed_at = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        app_label = "autosched"
        db_table = "autosched_taskchange"

    def __str__(self) -> str:
        return f"change {self.revision} of task {self.task_id}"
