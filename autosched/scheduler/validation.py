"""Input checks and errors of the scheduler core: every bad value is refused at the call."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


class TimezoneError(ValueError):
    """A time zone is unknown, or not allowed with the task's interval or offset."""


#: Names that mean the UTC grid of SPEC §1, exactly like no zone at all.
UTC_NAMES = frozenset({"", "UTC"})
#: Seconds in a civil day: a zoned task's interval is a whole number of them.
DAY = 86_400


def _who(name: str | None) -> str:
    return "" if name is None else f"Task {name!r}: "


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


def check_interval(name: str | None, interval: Any) -> int | float:
    """Return ``interval`` as seconds (> 0, finite), else raise naming the bad value."""
    kind = type(interval)
    if (kind is int or kind is float) and MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
        return cast(int | float, interval)  # the common case, without the ABC test below
    if isinstance(interval, bool) or not isinstance(interval, Real):
        raise TaskTypeError(
            f"{_who(name)}interval_seconds must be a number of seconds, got {interval!r}."
        )
    seconds = interval if isinstance(interval, int) else float(interval)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"{_who(name)}interval_seconds must be a finite number above 0, got {interval!r}."
        )
    if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
        raise ValueError(
            f"{_who(name)}interval_seconds must be from {MIN_INTERVAL_SECONDS} (one "
            f"millisecond) to {MAX_INTERVAL_SECONDS} (one year), got {interval!r}."
        )
    return seconds


def _seconds_or_none(name: str | None, what: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TaskTypeError(
            f"{_who(name)}{what} must be a number of seconds or None, got {value!r}."
        )
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{_who(name)}{what} must be a finite number, got {value!r}.")
    return seconds


def check_offset(name: str | None, offset: Any, interval: float) -> int | float | None:
    """Return ``offset`` if None or ``0 <= offset < interval``, else raise naming it."""
    seconds = _seconds_or_none(name, "offset", offset)
    if seconds is None:
        return None
    if not 0 <= seconds < interval:
        raise ValueError(
            f"{_who(name)}offset must be at least 0 and below the interval "
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


def find_zone(name: str | None, timezone: Any) -> ZoneInfo | None:
    """Return the zone named ``timezone``, None for UTC (None, "" or "UTC"), else raise."""
    if timezone is None:
        return None
    if not isinstance(timezone, str):
        raise TaskTypeError(
            f"{_who(name)}timezone must be an IANA zone name or None, got {timezone!r}."
        )
    if timezone in UTC_NAMES:
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimezoneError(
            f"{_who(name)}unknown time zone {timezone!r}: give an IANA name such as "
            "'Europe/Madrid'."
        ) from None


def check_timezone(name: str | None, timezone: Any, interval: float, offset: Any) -> str | None:
    """Return ``timezone`` (None for blank) if the task may have it, else raise naming it.

    A zone other than UTC needs an interval of whole days and an offset: its slots are a wall
    time of every n-th local date (SPEC §5), which a sub-day interval or the monotonic grid of
    a task without an offset cannot follow.
    """
    zone = find_zone(name, timezone)
    if zone is None:
        return timezone or None
    if interval % DAY:
        raise TimezoneError(
            f"{_who(name)}a time zone ({timezone!r}) needs an interval of whole days "
            f"(a multiple of {DAY} s), got {interval!r}; clear the zone or use whole days."
        )
    if offset is None:
        raise TimezoneError(
            f"{_who(name)}a time zone ({timezone!r}) needs an offset: the wall time of its "
            "slots, in seconds after local midnight (plus whole days), got None."
        )
    return cast(str, timezone)
