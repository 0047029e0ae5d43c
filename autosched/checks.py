"""System checks for autosched's settings (ids ``autosched.E001…`` and ``autosched.W001…``)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Warning

from autosched.conf import PREFIX, Settings, conf


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
    messages.extend(_check_unknown_settings())
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
