"""Rows for registered defaults: created idempotently, never updated or deleted.

The shape of ``django.contrib.contenttypes``' ``create_contenttypes``: things defined in code
become rows after ``migrate`` (and when ``runscheduler`` starts), safely from several processes
at once, and an operator's change to a row always wins over the code.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, IntegrityError, router, transaction

from autosched.models import PeriodicTask
from autosched.registry import Registry, registry

__all__ = ["create_default_tasks", "sync_defaults"]

logger = logging.getLogger("autosched")


def sync_defaults(
    using: str = DEFAULT_DB_ALIAS, *, source: Registry = registry
) -> list[PeriodicTask]:
    """Create a row for each default whose function has none yet; return the rows created."""
    wanted = [entry for entry in source.all() if entry.interval_seconds is not None]
    if not wanted:
        return []
    tasks = PeriodicTask.objects.using(using)
    have = set(
        tasks.filter(function__in=[e.key for e in wanted]).values_list("function", flat=True)
    )
    created = []
    for entry in wanted:
        if entry.key in have:
            continue
        assert entry.interval_seconds is not None  # Filtered above; narrows the type.
        try:
            # A savepoint, so that losing a race does not break an outer transaction.
            with transaction.atomic(using=using):
                task = tasks.create(
                    name=entry.key,
                    function=entry.key,
                    interval_seconds=entry.interval_seconds,
                    enabled=entry.enabled,
                )
        except IntegrityError:
            if not tasks.filter(function=entry.key).exists():
                logger.warning(
                    "Cannot create the default task for %s: another task is named %s",
                    entry.key,
                    entry.key,
                )
            continue  # Otherwise another process created it meanwhile.
        logger.info(
            "Created periodic task %s (every %s s, enabled=%s) from its registered default",
            entry.key,
            entry.interval_seconds,
            entry.enabled,
        )
        created.append(task)
    return created


def create_default_tasks(
    app_config: AppConfig,
    using: str = DEFAULT_DB_ALIAS,
    apps: Apps = global_apps,
    **kwargs: Any,
) -> None:
    """Create the rows for registered defaults after ``migrate`` or ``flush`` (``post_migrate``)."""
    try:
        # The migration state, not the code, says whether the table exists yet.
        apps.get_model("autosched", "PeriodicTask")
    except LookupError:
        return
    if not router.allow_migrate_model(using, PeriodicTask):
        return
    sync_defaults(using=using)
