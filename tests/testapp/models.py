"""The example model of the README's persisted-history recipe: the user's own, not autosched's."""

from __future__ import annotations

from django.db import models


class TaskRun(models.Model):
    """One finished run of a periodic task, as ``task_finished`` told it."""

    name = models.CharField(max_length=200, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=20)  # "ok", "error", "cancelled" or "timeout"
    duration = models.FloatField()  # seconds
    error = models.TextField(blank=True)

    objects: models.Manager[TaskRun] = models.Manager()

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        return f"{self.name} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
