"""Grid arithmetic and input checks for the scheduler core (no asyncio, no Django)."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, cast

# Beyond this, wall-clock datetimes for "next run" overflow; no real schedule needs it.
MAX_INTERVAL_SECONDS = 100 * 365 * 24 * 3600


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
    """Raise unless ``func`` can be called with no arguments later."""
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
            f"(100 years), got {interval!r}."
        )
    return seconds


def next_slot(anchor: float, interval: float, fired_slot: int, now: float) -> tuple[int, int]:
    """Return the grid slot to run next after ``fired_slot`` and how many slots were missed.

    Slot ``k`` is due at ``anchor + k * interval``. The next slot is the first one still in
    the future at ``now``; the slots skipped over (the loop was blocked, the machine slept)
    are coalesced into the run that just happened rather than fired in a burst.
    """
    slot = fired_slot + 1
    if anchor + slot * interval > now:
        return slot, 0
    late_by = now - anchor
    target = math.floor(late_by / interval) + 1
    # Guard against float rounding putting ``target`` on a slot that is not in the future.
    while anchor + target * interval <= now:
        target += 1
    return target, target - slot
