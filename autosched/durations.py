"""Spans typed by people: "90", "90s", "15m", "1h 30m", "2d"; times of day: "03:00", "0:15:00";
a weekday and a time for weekly rows: "Mon 09:00".

The admin's interval and offset fields parse with these, and show values back the same way,
so what an operator reads is what they would type.
"""

from __future__ import annotations

import re

from django.utils.dates import WEEKDAYS, WEEKDAYS_ABBR
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from autosched.zones import DAY, WEEK

__all__ = [
    "format_interval",
    "format_offset",
    "parse_interval",
    "parse_offset",
    "split_weekday",
]

_UNIT_SECONDS = {
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
    "h": 3_600,
    "hr": 3_600,
    "hour": 3_600,
    "hours": 3_600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_WEEKDAY = re.compile(r"([^\W\d_]+)\.?\s+(.+)")
#: Day 0 of the epoch grid, 1970-01-01, was a Thursday (Python's weekday 3).
EPOCH_WEEKDAY = 3
_ENGLISH_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: What an operator may type, said in the language active when shown (lazy).
INTERVAL_EXAMPLES = _('"90", "90s", "15m", "1h 30m" or "2d"')
OFFSET_EXAMPLES = _(
    '"03:00" (3 hours), "0:15:00" (15 minutes), "900" (seconds), or "Mon 09:00" for a weekly row'
)


def parse_interval(text: str) -> int:
    """Return the seconds that ``text`` says, or raise ValueError with examples."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return int(cleaned)
    total, position = 0, 0
    for match in _PART.finditer(cleaned):
        if match.start() != position or match.group(2) not in _UNIT_SECONDS:
            break
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    else:
        if position == len(cleaned) and position:
            return total
    raise ValueError(
        gettext("%(text)r is not a span of time: write e.g. %(examples)s.")
        % {"text": text, "examples": INTERVAL_EXAMPLES}
    )


def _weekday_number(word: str) -> int | None:
    """Return Monday = 0 … Sunday = 6 for a weekday's name or abbreviation, or None.

    English, and the active language's names, are read ("Mon", "monday", "lun", "miércoles").
    """
    word = word.casefold()
    for number, english in enumerate(_ENGLISH_DAYS):
        names = {english, english[:3], str(WEEKDAYS[number]), str(WEEKDAYS_ABBR[number])}
        if word in {name.casefold().rstrip(".") for name in names}:
            return number
    return None


def split_weekday(text: str) -> tuple[int | None, str]:
    """Split "Mon 09:00" into (the day of the week's grid offset in days, "09:00").

    The day is 0 to 6 days after the epoch grid's Thursday: Monday is 4. Without a weekday
    name, return (None, ``text``).
    """
    match = _WEEKDAY.fullmatch(text.strip())
    if match is None:
        return None, text
    number = _weekday_number(match.group(1))
    if number is None:
        return None, text
    return (number - EPOCH_WEEKDAY) % 7, match.group(2)


def parse_offset(text: str) -> int:
    """Return the seconds of an offset: a time "HH:MM[:SS]", a span as ``parse_interval``, or
    a weekday and a time of day ("Mon 09:00"), from the Thursday that starts the epoch grid.
    """
    days, rest = split_weekday(text)
    if days is not None:
        try:
            seconds = parse_offset(rest)
        except ValueError:
            seconds = DAY  # said below, with the whole text
        if seconds < DAY:
            return days * DAY + seconds
    cleaned = text.strip()
    clock = _CLOCK.fullmatch(cleaned)
    if clock:
        hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        if minutes < 60 and seconds < 60:
            return hours * 3_600 + minutes * 60 + seconds
    try:
        return parse_interval(cleaned)
    except ValueError:
        raise ValueError(
            gettext("%(text)r is not an offset: write e.g. %(examples)s.")
            % {"text": text, "examples": OFFSET_EXAMPLES}
        ) from None


def format_interval(seconds: int) -> str:
    """Say ``seconds`` the way ``parse_interval`` reads it: 5400 -> "1h 30m"."""
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


def format_offset(seconds: int, *, weekly: bool = False) -> str:
    """Say an offset as a time, the way ``parse_offset`` reads it: 10800 -> "03:00".

    ``weekly``: an offset within the first week is said with its weekday, "Mon 09:00".
    """
    if weekly and 0 <= seconds < WEEK:
        days, seconds = divmod(seconds, DAY)
        weekday = WEEKDAYS_ABBR[(days + EPOCH_WEEKDAY) % 7]
        return f"{weekday} {format_offset(seconds)}"
    hours, rest = divmod(seconds, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
