"""Interval limits and wording shared by the registry, the model and the admin (no Django)."""

from __future__ import annotations

#: The longest interval a task may have: one year of 365 days.
MAX_INTERVAL_SECONDS = 31_536_000

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def humanize_interval(seconds: int) -> str:
    """Describe an interval exactly in words, e.g. 90 -> "every 1 minute 30 seconds".

    The rule: the largest units first (days, hours, minutes, seconds), parts that are zero left
    out, and a single part of one unit said without the number ("every hour"). The words are
    never rounded, so an operator reads the exact interval the scheduler uses.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise ValueError(f"interval must be a positive integer of seconds, not {seconds!r}")
    parts: list[tuple[int, str]] = []
    remainder = seconds
    for unit, size in _UNITS:
        count, remainder = divmod(remainder, size)
        if count:
            parts.append((count, unit))
    if len(parts) == 1 and parts[0][0] == 1:
        return f"every {parts[0][1]}"
    words = " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts)
    return f"every {words}"
