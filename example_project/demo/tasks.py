"""The demo's scheduled functions: autosched imports this module at startup."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

import autosched
from example_project.demo.models import Heartbeat

logger = logging.getLogger("example_project")


@autosched.register(interval_seconds=10)
def record_heartbeat() -> None:
    """Count the users and write a Heartbeat row (a sync task using the ORM)."""
    heartbeat = Heartbeat.objects.create(user_count=get_user_model().objects.count())
    logger.info("Recorded %s", heartbeat)


@autosched.register(interval_seconds=15)
async def count_heartbeats() -> None:
    """Count the heartbeats with the async ORM (an async task)."""
    await asyncio.sleep(0.2)  # Stands in for some awaited I/O.
    logger.info("%s heartbeats so far", await Heartbeat.objects.acount())


@autosched.register(interval_seconds=7)
def flaky(failure_rate: float = 0.3) -> None:
    """Fail about one run in three, to show that a failure is logged and changes nothing.

    Give the row ``{"failure_rate": 1}`` as its keyword arguments to make it fail every time.
    """
    if random.random() < failure_rate:
        raise RuntimeError(f"flaky failed, as it does {failure_rate:.0%} of the time")
    logger.info("flaky succeeded this time")


@autosched.register
def prune_heartbeats() -> None:
    """Delete heartbeats older than an hour (no default: add its row in the admin)."""
    cutoff = timezone.now() - timedelta(hours=1)
    deleted, _ = Heartbeat.objects.filter(created_at__lt=cutoff).delete()
    logger.info("Pruned %s heartbeats", deleted)
