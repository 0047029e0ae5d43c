"""Input checks and errors of the scheduler core: every bad value is refused at the call."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, cast

#: The longest interval a task may have: one year of 365 days. Nothing periodic needs more,
#: and the database, the admin and the registry all share this one bound.
MAX_INTERVAL_SECONDS = 31_536_000


class TaskTypeError(TypeError, ValueError):
    """A task argument has the wrong type (also a ValueError, so either can be caught)."""


class TaskNotFoundError(KeyError, ValueError):
    """No task has the given name."""

    def __str__(self) -> str:
        # KeyError would show the message in quotes; it is a sentence, not a key.
        return str(self.args[0]) if self.args else ""


class DuplicateTaskError(ValueError):
    """A task with the given name already exists."""


def check_name(name: Any) -> str:
    """Return ``name`` if it is a usable task name, else raise naming the bad value."""
    if not isinstance(name, str):
        raise TaskTypeError(f"Task name must be a string, got {name!r}.")
    if not name or name.isspace():
        raise ValueError(f"Task name must not be empty or blank, got {name!r}.")
    return name


def check_func(name: str, func: Any) -> None:
    """Raise unless ``func`` can be called later."""
    if not callable(func):
        raise TaskTypeError(f"Task {name!r}: func must be callable, got {func!r}.")


def check_interval(name: str, interval: Any) -> int | float:
    """Return ``interval`` as seconds (> 0, finite), else raise naming the bad value."""
    kind = type(interval)
    if (kind is int or kind is float) and 0 < interval <= MAX_INTERVAL_SECONDS:
        return cast(int | float, interval)  # the common case, without the ABC test below
    if isinstance(interval, bool) or not isinstance(interval, Real):
        raise TaskTypeError(
            f"Task {name!r}: interval_seconds must be a number of seconds, got {interval!r}."
        )
    seconds = interval if isinstance(interval, int) else float(interval)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"Task {name!r}: interval_seconds must be a finite number above 0, got {interval!r}."
        )
    if seconds > MAX_INTERVAL_SECONDS:
        raise ValueError(
            f"Task {name!r}: interval_seconds must be at most {MAX_INTERVAL_SECONDS} "
            f"(one year), got {interval!r}."
        )
    return seconds
