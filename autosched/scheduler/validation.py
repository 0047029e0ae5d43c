"""Input checks and errors of the scheduler core: every bad value is refused at the call."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, cast

#: The longest interval a task may have: one year of 365 days. Nothing periodic needs more,
#: and the database, the admin and the registry all share this one bound.
MAX_INTERVAL_SECONDS = 31_536_000
#: The shortest interval: one millisecond. Below it the timer could not keep up, and the slot
#: arithmetic of tiny floats would stall the loop or overflow.
MIN_INTERVAL_SECONDS = 0.001


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
    if (kind is int or kind is float) and MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
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
    if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
        raise ValueError(
            f"Task {name!r}: interval_seconds must be from {MIN_INTERVAL_SECONDS} (one "
            f"millisecond) to {MAX_INTERVAL_SECONDS} (one year), got {interval!r}."
        )
    return seconds


def _seconds_or_none(name: str, what: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TaskTypeError(
            f"Task {name!r}: {what} must be a number of seconds or None, got {value!r}."
        )
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"Task {name!r}: {what} must be a finite number, got {value!r}.")
    return seconds


def check_offset(name: str, offset: Any, interval: float) -> int | float | None:
    """Return ``offset`` if None or ``0 <= offset < interval``, else raise naming it."""
    seconds = _seconds_or_none(name, "offset", offset)
    if seconds is None:
        return None
    if not 0 <= seconds < interval:
        raise ValueError(
            f"Task {name!r}: offset must be at least 0 and below the interval "
            f"({interval:g} s), got {offset!r}."
        )
    return offset if isinstance(offset, int) else seconds


def check_timeout(name: str, timeout: Any) -> int | float | None:
    """Return ``timeout`` if None or a number of seconds above 0, else raise naming it."""
    seconds = _seconds_or_none(name, "timeout", timeout)
    if seconds is None:
        return None
    if seconds <= 0:
        raise ValueError(f"Task {name!r}: timeout must be above 0 seconds, got {timeout!r}.")
    return timeout if isinstance(timeout, int) else seconds
