from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from example_project.demo.models import Heartbeat

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Heartbeat]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(Heartbeat)
class HeartbeatAdmin(_ModelAdmin):
    """Show the heartbeats the scheduler wrote, newest first."""

    list_display = ("created_at", "user_count")
