"""Spans of time in words: intervals ("every 5 minutes"), ages ("3 min 5 s"), durations."""

from __future__ import annotations

import math

__all__ = ["duration_words", "humanize_interval", "short_span"]

#: The one table of units: (seconds, word, short word), largest first.
UNITS = ((86_400, "day", "d"), (3_600, "hour", "h"), (60, "minute", "min"), (1, "second", "s"))


def _parts(seconds: int) -> list[tuple[int, int]]:
    """Split whole ``seconds`` into (count, index into UNITS), largest unit first, no zeros."""
    parts = []
    for index, (size, _, _) in enumerate(UNITS):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append((count, index))
    return parts


def humanize_interval(seconds: int) -> str:
    """Describe an interval exactly in words, e.g. 90 -> "every 1 minute 30 seconds".

    The rule: the largest units first (days, hours, minutes, seconds), parts that are zero left
    out, and a single part of one unit said without the number ("every hour"). The words are
    never rounded, so an operator reads the exact interval the scheduler uses.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise ValueError(f"interval must be a positive integer of seconds, not {seconds!r}")
    parts = _parts(seconds)
    if len(parts) == 1 and parts[0][0] == 1:
        return f"every {UNITS[parts[0][1]][1]}"
    words = " ".join(
        f"{count} {UNITS[index][1]}{'' if count == 1 else 's'}" for count, index in parts
    )
    return f"every {words}"


def short_span(seconds: float) -> str:
    """Say a span in its two largest units, e.g. 42 -> "42 s", 3725 -> "1 h 2 min"."""
    whole = max(0, math.floor(seconds + 0.5))
    if whole == 0:
        return "0 s"
    return " ".join(f"{count} {UNITS[index][2]}" for count, index in _parts(whole)[:2])


def duration_words(seconds: float | None) -> str:
    """Say how long a run took, e.g. "12 ms", "3.4 s", "2 min 5 s"."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return short_span(seconds)


def _clock(seconds: int) -> str:
    """Say a time of day: 10800 -> "03:00", 10815 -> "03:00:15"."""
    hours, rest = divmod(seconds % 86_400, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _past_the_hour(seconds: int) -> str:
    """Say a time past the hour: 900 -> ":15", 905 -> ":15:05"."""
    minutes, secs = divmod(seconds % 3_600, 60)
    return f":{minutes:02d}" + (f":{secs:02d}" if secs else "")


def schedule_words(interval: int, offset: int, spread: bool = False) -> str:
    """Say when a schedule on the UTC grid runs, e.g. "every day at 03:00 UTC".

    ``offset`` is the one the scheduler uses (the row's, or its spread one); ``spread`` says
    it was not chosen, which only shows for intervals without a clock-like rhythm.
    """
    every = humanize_interval(interval)
    if interval % 86_400 == 0:
        return f"{every} at {_clock(offset)} UTC"
    if interval == 3_600:
        return f"{every} at {_past_the_hour(offset)}"
    if 86_400 % interval == 0 and interval % 3_600 == 0:
        first, second = _clock(offset), _clock(offset + interval)
        return f"{every} (at {first}, {second}, … UTC)"
    if interval == 60:
        return f"{every} (at second {offset})"
    if 3_600 % interval == 0 and interval % 60 == 0:
        first, second = _past_the_hour(offset), _past_the_hour(offset + interval)
        return f"{every} (at {first}, {second}, …)"
    if spread or 60 % interval == 0:
        return every
    return f"{every}, {short_span(offset)} into each"
