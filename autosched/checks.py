"""System checks for autosched's settings (ids ``autosched.E001…`` and ``autosched.W001…``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage, Error, Warning

from autosched import conf as settings_module
from autosched.conf import PREFIX, Settings, conf

#: (id, setting, its validator, hint) for the settings each checked on its own.
_SINGLE: tuple[tuple[str, str, Callable[[object], object], str], ...] = (
    (
        "autosched.E001",
        "SYNC_INTERVAL",
        settings_module.valid_sync_interval,
        "Set it to e.g. 0.5, or remove it to use the default (0.5).",
    ),
    (
        "autosched.E002",
        "GRACE_PERIOD",
        settings_module.valid_grace_period,
        "Set it to e.g. 10.0, or remove it to use the default (10.0).",
    ),
    (
        "autosched.E003",
        "MAX_WORKERS",
        settings_module.valid_max_workers,
        "Set it to e.g. 32, or remove it to use the default (32).",
    ),
    (
        "autosched.E004",
        "STATUS_TTL",
        settings_module.valid_status_ttl,
        "Set it to e.g. 5.0, or remove it to use the default (5.0).",
    ),
    (
        "autosched.E007",
        "MISSED_SLOT_GRACE",
        settings_module.valid_missed_slot_grace,
        "Set it to e.g. 60 (runs may then repeat once), or remove it to use the default (0).",
    ),
)


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Report ``AUTOSCHED_*`` settings of the wrong type or range, and unknown ones."""
    messages: list[CheckMessage] = []
    for check_id, name, validator, hint in _SINGLE:
        try:
            validator(getattr(conf, name))
        except (TypeError, ValueError) as exc:
            messages.append(Error(str(exc), hint=hint, id=check_id))
    try:
        settings_module.valid_lease(conf.LEASE_TTL, conf.LEASE_RENEW)
    except ValueError as exc:
        messages.append(
            Error(
                str(exc),
                hint="Renew well before expiry, e.g. TTL 10 and RENEW 2 (the defaults).",
                id="autosched.E006",
            )
        )
    messages.extend(_check_unknown_settings())
    messages.extend(_check_status_cache())
    return messages


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
        hint = (
            f"Did you mean {PREFIX}{close[0]}?" if close else f"Known settings: {', '.join(known)}."
        )
        messages.append(
            Warning(
                f"Unknown setting {name}; autosched ignores it.", hint=hint, id="autosched.W001"
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
                f"AUTOSCHED_STATUS_CACHE names the cache {alias!r}, which is not in CACHES.",
                hint=f"Use one of {', '.join(map(repr, django_settings.CACHES))}.",
                id="autosched.E005",
            )
        ]
    if isinstance(caches[alias], LocMemCache | DummyCache):
        return [
            Warning(
                f"The status cache {alias!r} ({type(caches[alias]).__name__}) is not shared "
                "between processes, so the admin and schedulerstatus never see the live status "
                "that runscheduler publishes.",
                hint="Point AUTOSCHED_STATUS_CACHE at a cache shared across processes: "
                "Redis, Memcached, DatabaseCache or FileBasedCache.",
                id="autosched.W002",
            )
        ]
    return []
