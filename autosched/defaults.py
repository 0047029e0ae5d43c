"""Rows for registered defaults: created idempotently, never updated or deleted.

The shape of ``django.contrib.contenttypes``' ``create_contenttypes``: things defined in code
become rows after ``migrate`` (and when ``runscheduler`` starts), safely from several processes
at once, and an operator's change to a row always wins over the code.
"""

from __future__ import annotations

import logging
from functools import partial
from operator import attrgetter
from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, IntegrityError, router, transaction
from django.db.models import QuerySet

from autosched.models import PeriodicTask
from autosched.registry import RegisteredFunction, Registry, registry

__all__ = ["create_default_tasks", "default_names", "sync_defaults"]

logger = logging.getLogger("autosched")


def _short_name(entry: RegisteredFunction, *, long: bool = False) -> str:
    """Say a function by its app's label: "billing.send_invoices" (long: "billing.jobs.…")."""
    module = entry.func.__module__
    app = global_apps.get_containing_app_config(module)
    if app is None:
        return entry.key
    inner = module.removeprefix(app.name).lstrip(".")
    if long and inner and inner != "tasks":
        return f"{app.label}.{inner}.{entry.func.__qualname__}"
    return f"{app.label}.{entry.func.__qualname__}"


def default_names(source: Registry = registry) -> dict[str, str]:
    """Return the name each registered function's default row gets, by key; unique.

    The name given to ``register(name=...)``, else the function's name qualified by its app's
    label ("billing.send_invoices"); where two of those would clash (ignoring case), the
    module within the app is kept too ("billing.jobs.send_invoices"), and failing that the key.
    """
    entries = source.all()
    names = {entry.key: entry.name or _short_name(entry) for entry in entries}
    chosen = {entry.name.casefold() for entry in entries if entry.name}

    def clashes(entry: RegisteredFunction) -> bool:
        name = names[entry.key].casefold()
        return name in chosen or sum(n.casefold() == name for n in names.values()) > 1

    for widen in (partial(_short_name, long=True), attrgetter("key")):
        for entry in [e for e in entries if not e.name and clashes(e)]:
            names[entry.key] = widen(entry)
    return names


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
    names = default_names(source)
    created = []
    for entry in wanted:
        if entry.key in have:
            continue
        task = _create(tasks, entry, names[entry.key])
        if task is not None:
            created.append(task)
    return created


def _create(
    tasks: QuerySet[PeriodicTask], entry: RegisteredFunction, name: str
) -> PeriodicTask | None:
    """Create the default row of ``entry`` under ``name``, or its key if another row has it."""
    assert entry.interval_seconds is not None  # Only defaults come here; narrows the type.
    # Rows already there keep their names (they are the operator's data); a readable name
    # taken by another row, even in another case, falls back to the key.
    candidates = [name] if name == entry.key else [name, entry.key]
    for candidate in candidates:
        if tasks.filter(name__iexact=candidate).exists():
            continue
        try:
            # A savepoint, so that losing a race does not break an outer transaction.
            with transaction.atomic(using=tasks.db):
                task = tasks.create(
                    name=candidate,
                    function=entry.key,
                    interval_seconds=entry.interval_seconds,
                    enabled=entry.enabled,
                    kwargs=dict(entry.kwargs),
                    timezone=entry.timezone,
                )
        except IntegrityError:
            if tasks.filter(function=entry.key).exists():
                return None  # another process created it meanwhile
            continue
        logger.info(
            "Created periodic task %s for %s (every %s s%s, enabled=%s) from its default",
            candidate,
            entry.key,
            entry.interval_seconds,
            f" in {entry.timezone}" if entry.timezone else "",
            entry.enabled,
        )
        return task
    logger.warning(
        "Cannot create the default task for %s: another task is named %s",
        entry.key,
        " and another ".join(candidates),
    )
    return None


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
