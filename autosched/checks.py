"""System checks for autosched's settings (ids ``autosched.E001…`` and ``autosched.W001…``).

``check_settings`` reads settings only; ``check_worker_backends`` reads the rows too, so it is
a database check: it runs where Django asks for those (``migrate``, ``check --database``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from autosched import conf as settings_module
from autosched.conf import MARGIN_SHARE, PREFIX, Settings, conf
from autosched.models import PeriodicTask, RunOn

#: (id, setting, its validator, message, hint) for the settings each checked on its own. The
#: validators (autosched.conf) decide; the messages say the same as theirs, translatably.
_SINGLE: tuple[tuple[str, str, Callable[[object], object], Promise, Promise], ...] = (
    (
        "autosched.E001",
        "SYNC_INTERVAL",
        settings_module.valid_sync_interval,
        _("AUTOSCHED_SYNC_INTERVAL must be a number of seconds from 0.01 to 30, not %(value)s."),
        _("Set it to e.g. 0.5, or remove it to use the default (0.5)."),
    ),
    (
        "autosched.E002",
        "GRACE_PERIOD",
        settings_module.valid_grace_period,
        _("AUTOSCHED_GRACE_PERIOD must be a number of seconds >= 0, not %(value)s."),
        _("Set it to e.g. 10.0, or remove it to use the default (10.0)."),
    ),
    (
        "autosched.E003",
        "MAX_WORKERS",
        settings_module.valid_max_workers,
        _("AUTOSCHED_MAX_WORKERS must be a positive integer, not %(value)s."),
        _("Set it to e.g. 32, or remove it to use the default (32)."),
    ),
    (
        "autosched.E004",
        "STATUS_TTL",
        settings_module.valid_status_ttl,
        _("AUTOSCHED_STATUS_TTL must be a positive number of seconds, not %(value)s."),
        _("Set it to e.g. 5.0, or remove it to use the default (5.0)."),
    ),
    (
        "autosched.E010",
        "SENTRY_CRONS",
        settings_module.valid_sentry_crons,
        _("AUTOSCHED_SENTRY_CRONS must be True or False, not %(value)s."),
        _('Set it to True (with pip install "autosched[sentry]" and sentry_sdk.init) or False.'),
    ),
    (
        "autosched.E007",
        "MISSED_SLOT_GRACE",
        settings_module.valid_missed_slot_grace,
        _("AUTOSCHED_MISSED_SLOT_GRACE must be a number of seconds >= 0, not %(value)s."),
        _("Set it to e.g. 60 (runs may then repeat once), or remove it to use the default (0)."),
    ),
    (
        "autosched.E009",
        "RUN_HISTORY_BYTES",
        settings_module.valid_run_history_bytes,
        _("AUTOSCHED_RUN_HISTORY_BYTES must be a whole number of bytes >= 0, not %(value)s."),
        _("Set it to e.g. 33554432 (32 MiB), or remove it to use that default."),
    ),
    (
        "autosched.E011",
        "ENQUEUE_CONFIRM_TIMEOUT",
        settings_module.valid_confirm_timeout,
        _("AUTOSCHED_ENQUEUE_CONFIRM_TIMEOUT must be a positive number of seconds, not %(value)s."),
        _("Set it to e.g. 10.0, or remove it to use the default (10.0)."),
    ),
)


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Report ``AUTOSCHED_*`` settings of the wrong type or range, and unknown ones."""
    messages: list[CheckMessage] = []
    for check_id, name, validator, message, hint in _SINGLE:
        value = getattr(conf, name)
        try:
            validator(value)
        except (TypeError, ValueError):
            messages.append(
                Error(str(message) % {"value": repr(value)}, hint=str(hint), id=check_id)
            )
    try:
        settings_module.valid_lease(conf.LEASE_TTL, conf.LEASE_RENEW)
    except ValueError:
        messages.append(
            Error(
                gettext(
                    "AUTOSCHED_LEASE_RENEW (%(renew)s) must be a number of seconds above 0 and "
                    "below %(share)s of AUTOSCHED_LEASE_TTL (%(ttl)s)."
                )
                % {
                    "renew": repr(conf.LEASE_RENEW),
                    "ttl": repr(conf.LEASE_TTL),
                    "share": f"{1 - MARGIN_SHARE:.0%}",
                },
                hint=gettext("Renew well before expiry, e.g. TTL 10 and RENEW 2 (the defaults)."),
                id="autosched.E006",
            )
        )
    messages.extend(_check_health_token())
    messages.extend(_check_unknown_settings())
    messages.extend(_check_status_cache())
    return messages


def _check_health_token() -> list[CheckMessage]:
    try:
        settings_module.valid_health_token(conf.HEALTH_TOKEN)
    except (TypeError, ValueError):
        # The value is a secret: the message never repeats it.
        return [
            Error(
                gettext(
                    "AUTOSCHED_HEALTH_TOKEN must be None or a string of at least %(length)d "
                    "printable ASCII characters without spaces."
                )
                % {"length": settings_module.MIN_HEALTH_TOKEN},
                hint=gettext(
                    "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe())'"
                ),
                id="autosched.E008",
            )
        ]
    return []


def _check_unknown_settings() -> list[CheckMessage]:
    # A misspelt setting would otherwise be ignored without a word.
    known = Settings.names()
    messages: list[CheckMessage] = []
    for name in dir(django_settings):
        if not name.startswith(PREFIX) or name in known:
            continue
        # Compare without the shared prefix, which would make every name look close.
        suffixes = [known_name.removeprefix(PREFIX) for known_name in known]
        close = difflib.get_close_matches(name.removeprefix(PREFIX), suffixes, n=1)
        if close:
            hint = gettext("Did you mean %(setting)s?") % {"setting": PREFIX + close[0]}
        else:
            hint = gettext("Known settings: %(settings)s.") % {"settings": ", ".join(known)}
        messages.append(
            Warning(
                gettext("Unknown setting %(setting)s; autosched ignores it.") % {"setting": name},
                hint=hint,
                id="autosched.W001",
            )
        )
    return messages


def _check_status_cache() -> list[CheckMessage]:
    # The admin reads the live status from another process than the scheduler's, so a cache
    # that lives in one process (or nowhere) would always show "no scheduler".
    alias = conf.STATUS_CACHE
    if alias not in django_settings.CACHES:
        return [
            Error(
                gettext("AUTOSCHED_STATUS_CACHE names the cache %(alias)r, which is not in CACHES.")
                % {"alias": alias},
                hint=gettext("Use one of %(aliases)s.")
                % {"aliases": ", ".join(map(repr, django_settings.CACHES))},
                id="autosched.E005",
            )
        ]
    if isinstance(caches[alias], LocMemCache | DummyCache):
        return [
            Warning(
                gettext(
                    "The status cache %(alias)r (%(backend)s) is not shared between processes, "
                    "so the admin and schedulerstatus never see the live status that "
                    "runscheduler publishes."
                )
                % {"alias": alias, "backend": type(caches[alias]).__name__},
                hint=gettext(
                    "Point AUTOSCHED_STATUS_CACHE at a cache shared across processes: Redis, "
                    "Memcached, DatabaseCache or FileBasedCache."
                ),
                id="autosched.W002",
            )
        ]
    return []


#: Django Tasks backends that run a task at once in the process that enqueues it, or never.
INLINE_BACKENDS = ("ImmediateBackend", "DummyBackend")
#: Names of worker rows shown in a warning; the rest are counted.
NAMES_SHOWN = 3


# Registered on import (``AppConfig.ready`` imports this module), as a database check.
@register(Tags.database)
def check_worker_backends(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Warn when worker rows would run inline, not on a worker (``autosched.W003``)."""
    by_backend: dict[str, list[str]] = {}
    for alias in databases or ():
        try:
            rows = PeriodicTask.objects.using(alias).filter(run_on=RunOn.WORKER)
            for name, backend in rows.order_by("name").values_list("name", "tasks_backend"):
                by_backend.setdefault(backend, []).append(name)
        except DatabaseError:  # not migrated yet: nothing to warn about
            continue
    configured = getattr(django_settings, "TASKS", None)
    messages: list[CheckMessage] = []
    for alias, names in sorted(by_backend.items()):
        kind = _inline_backend(configured, alias)
        if kind is None:
            continue
        shown = ", ".join(names[:NAMES_SHOWN])
        if len(names) > NAMES_SHOWN:
            shown += " " + gettext("and %(count)d more") % {"count": len(names) - NAMES_SHOWN}
        if not configured:
            message = gettext(
                "Worker rows (%(names)s) enqueue to Django Tasks, but there is no TASKS "
                "setting: Django then uses ImmediateBackend, so their runs happen inline in the "
                "scheduler process, not on a worker."
            ) % {"names": shown}
        else:
            message = gettext(
                "Worker rows (%(names)s) enqueue to the Tasks backend %(alias)r, a "
                "%(backend)s: their runs happen inline in the scheduler process (or never), "
                "not on a worker."
            ) % {"names": shown, "alias": alias, "backend": kind}
        messages.append(
            Warning(
                message,
                hint=gettext(
                    "Set TASKS[%(alias)r] to a backend that workers read, e.g. "
                    '{"BACKEND": "django_tasks_db.DatabaseBackend"} with manage.py db_worker, '
                    "or set these rows' Run on to the scheduler process."
                )
                % {"alias": alias},
                id="autosched.W003",
            )
        )
    return messages


def _inline_backend(configured: Any, alias: str) -> str | None:
    """Return the class name of ``alias``'s backend if it runs tasks inline (or never)."""
    if not configured:
        return "ImmediateBackend"
    path = (configured.get(alias) or {}).get("BACKEND") if isinstance(configured, dict) else None
    if not isinstance(path, str):
        return None  # an unknown alias: the form and the enqueue say so
    try:
        backend = import_string(path)
    except ImportError:
        return None  # Django's own check of TASKS reports it
    for klass in getattr(backend, "__mro__", ()):
        if klass.__name__ in INLINE_BACKENDS:
            return str(klass.__name__)
    return None
