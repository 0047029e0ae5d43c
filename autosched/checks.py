"""System checks for autosched's settings (ids ``autosched.E001…`` and ``autosched.W001…``)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage, Error, Warning

from autosched.conf import PREFIX, Settings, conf
from autosched.leadership import MARGIN_SHARE


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Report ``AUTOSCHED_*`` settings of the wrong type or range, and unknown ones."""
    messages: list[CheckMessage] = []
    sync_interval = conf.SYNC_INTERVAL
    if not _is_number(sync_interval) or sync_interval <= 0:
        messages.append(
            Error(
                f"AUTOSCHED_SYNC_INTERVAL must be a positive number of seconds, "
                f"not {sync_interval!r}.",
                hint="Set it to e.g. 0.5, or remove it to use the default (0.5).",
                id="autosched.E001",
            )
        )
    grace_period = conf.GRACE_PERIOD
    if not _is_number(grace_period) or grace_period < 0:
        messages.append(
            Error(
                f"AUTOSCHED_GRACE_PERIOD must be a number of seconds >= 0, not {grace_period!r}.",
                hint="Set it to e.g. 10.0, or remove it to use the default (10.0).",
                id="autosched.E002",
            )
        )
    max_workers = conf.MAX_WORKERS
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        messages.append(
            Error(
                f"AUTOSCHED_MAX_WORKERS must be a positive integer, not {max_workers!r}.",
                hint="Set it to e.g. 32, or remove it to use the default (32).",
                id="autosched.E003",
            )
        )
    messages.extend(_check_lease())
    messages.extend(_check_unknown_settings())
    messages.extend(_check_status_settings())
    return messages


def _check_lease() -> list[CheckMessage]:
    ttl, renew = conf.LEASE_TTL, conf.LEASE_RENEW
    if _is_number(ttl) and _is_number(renew) and 0 < renew < ttl * (1 - MARGIN_SHARE):
        return []
    return [
        Error(
            f"AUTOSCHED_LEASE_RENEW ({renew!r}) must be a number of seconds above 0 and below "
            f"{1 - MARGIN_SHARE:.0%} of AUTOSCHED_LEASE_TTL ({ttl!r}).",
            hint="Renew well before expiry, e.g. TTL 10 and RENEW 2 (the defaults).",
            id="autosched.E006",
        )
    ]


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


def _check_status_settings() -> list[CheckMessage]:
    # The admin reads the live status from another process than the scheduler's, so a cache
    # that lives in one process (or nowhere) would always show "no scheduler".
    messages: list[CheckMessage] = []
    ttl = conf.STATUS_TTL
    if not _is_number(ttl) or ttl <= 0:
        messages.append(
            Error(
                f"AUTOSCHED_STATUS_TTL must be a positive number of seconds, not {ttl!r}.",
                hint="Set it to e.g. 5.0, or remove it to use the default (5.0).",
                id="autosched.E004",
            )
        )
    alias = conf.STATUS_CACHE
    if alias not in django_settings.CACHES:
        messages.append(
            Error(
                f"AUTOSCHED_STATUS_CACHE names the cache {alias!r}, which is not in CACHES.",
                hint=f"Use one of {', '.join(map(repr, django_settings.CACHES))}.",
                id="autosched.E005",
            )
        )
    elif isinstance(caches[alias], LocMemCache | DummyCache):
        messages.append(
            Warning(
                f"The status cache {alias!r} ({type(caches[alias]).__name__}) is not shared "
                "between processes, so the admin and schedulerstatus never see the live status "
                "that runscheduler publishes.",
                hint="Point AUTOSCHED_STATUS_CACHE at a cache shared across processes: "
                "Redis, Memcached, DatabaseCache or FileBasedCache.",
                id="autosched.W002",
            )
        )
    return messages
