"""A row the demo's ORM task writes, so its runs can be watched in the admin."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Record one run of ``record_heartbeat``."""

    created_at = models.DateTimeField(auto_now_add=True)
    user_count = models.PositiveIntegerField()

    # Declared so that type checkers know it even where this app is not installed.
    objects: models.Manager[Heartbeat] = models.Manager()

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"heartbeat at {self.created_at:%H:%M:%S}: {self.user_count} users"
