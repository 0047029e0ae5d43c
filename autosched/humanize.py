"""Spans of time in words: intervals ("every 5 minutes"), ages ("3 min 5 s"), durations.

Every word goes through Django's translation machinery, in the language active when the
function is called: the admin's (the request's), or ``LANGUAGE_CODE`` in the commands.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils.dates import WEEKDAYS
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext, ngettext, pgettext

from autosched.zones import DAY, WEEK

__all__ = [
    "ago",
    "duration_words",
    "humanize_interval",
    "in_span",
    "schedule_words",
    "short_span",
    "slot_parts",
    "slot_words",
    "span_units",
]

#: The one table of unit sizes, largest first: days, hours, minutes, seconds.
UNIT_SECONDS = (86_400, 3_600, 60, 1)


def _every_one(index: int) -> str:
    """Say "every day", "every hour", "every minute" or "every second"."""
    if index == 0:
        return gettext("every day")
    if index == 1:
        return gettext("every hour")
    if index == 2:
        return gettext("every minute")
    return gettext("every second")


def _counted(count: int, index: int) -> str:
    """Say ``count`` units in full words: "2 days", "1 hour", "5 minutes", "30 seconds"."""
    if index == 0:
        text = ngettext("%(count)d day", "%(count)d days", count)
    elif index == 1:
        text = ngettext("%(count)d hour", "%(count)d hours", count)
    elif index == 2:
        text = ngettext("%(count)d minute", "%(count)d minutes", count)
    else:
        text = ngettext("%(count)d second", "%(count)d seconds", count)
    return text % {"count": count}


def span_units() -> tuple[str, str, str, str]:
    """Return the short unit words, largest first: ("d", "h", "min", "s") in English."""
    return (
        pgettext("abbreviation of days", "d"),
        pgettext("abbreviation of hours", "h"),
        pgettext("abbreviation of minutes", "min"),
        pgettext("abbreviation of seconds", "s"),
    )


def _parts(seconds: int) -> list[tuple[int, int]]:
    """Split whole ``seconds`` into (count, unit index), largest unit first, no zeros."""
    parts = []
    for index, size in enumerate(UNIT_SECONDS):
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
        return _every_one(parts[0][1])
    words = " ".join(_counted(count, index) for count, index in parts)
    return gettext("every %(span)s") % {"span": words}


def short_span(seconds: float) -> str:
    """Say a span in its two largest units, e.g. 42 -> "42 s", 3725 -> "1 h 2 min"."""
    whole = max(0, math.floor(seconds + 0.5))
    units = span_units()
    if whole == 0:
        return f"0 {units[3]}"
    return " ".join(f"{count} {units[index]}" for count, index in _parts(whole)[:2])


def in_span(seconds: float) -> str:
    """Say when something comes: "in 42 s"."""
    return gettext("in %(span)s") % {"span": short_span(seconds)}


def ago(seconds: float) -> str:
    """Say how long ago something happened: "42 s ago"."""
    return gettext("%(span)s ago") % {"span": short_span(seconds)}


def duration_words(seconds: float | None) -> str:
    """Say how long a run took, e.g. "12 ms", "3.4 s", "2 min 5 s"."""
    if seconds is None:
        return ""
    if seconds < 1:
        return gettext("%(count)s ms") % {"count": number_format(seconds * 1000, 0)}
    if seconds < 60:
        return f"{number_format(seconds, 1)} {span_units()[3]}"
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


def _whole_days(interval: int, offset: int, timezone: str) -> str:
    """Say a schedule of whole days: "every Monday at 09:00 (Europe/Madrid)"."""
    time, zone = _clock(offset), timezone or "UTC"
    if interval % WEEK:
        every = humanize_interval(interval)
        return gettext("%(every)s at %(time)s (%(zone)s)") % {
            "every": every,
            "time": time,
            "zone": zone,
        }
    # Day 0 of the grid, 1970-01-01, was a Thursday (WEEKDAYS counts from Monday).
    weekday = WEEKDAYS[(offset // DAY + 3) % 7]
    weeks = interval // WEEK
    if weeks == 1:
        text = gettext("every %(weekday)s at %(time)s (%(zone)s)")
    else:
        text = ngettext(
            "every %(count)d week on %(weekday)s at %(time)s (%(zone)s)",
            "every %(count)d weeks on %(weekday)s at %(time)s (%(zone)s)",
            weeks,
        )
    return text % {"count": weeks, "weekday": weekday, "time": time, "zone": zone}


def schedule_words(interval: int, offset: int, spread: bool = False, timezone: str = "") -> str:
    """Say when a schedule runs, e.g. "every day at 03:00 (UTC)", "every hour at :15".

    ``offset`` is the one the scheduler uses (the row's, or its spread one); ``spread`` says
    it was not chosen, which only shows for intervals without a clock-like rhythm. A whole-day
    schedule names its time zone (``timezone``; blank is UTC), whose wall clock it keeps.
    """
    if interval % DAY == 0:
        return _whole_days(interval, offset, timezone)
    every = humanize_interval(interval)
    if interval == 3_600:
        return gettext("%(every)s at %(minute)s") % {
            "every": every,
            "minute": _past_the_hour(offset),
        }
    if 86_400 % interval == 0 and interval % 3_600 == 0:
        return gettext("%(every)s (at %(first)s, %(second)s, … UTC)") % {
            "every": every,
            "first": _clock(offset),
            "second": _clock(offset + interval),
        }
    if interval == 60:
        return gettext("%(every)s (at second %(second)s)") % {"every": every, "second": offset}
    if 3_600 % interval == 0 and interval % 60 == 0:
        return gettext("%(every)s (at %(first)s, %(second)s, …)") % {
            "every": every,
            "first": _past_the_hour(offset),
            "second": _past_the_hour(offset + interval),
        }
    if spread or 60 % interval == 0:
        return every
    return gettext("%(every)s, %(span)s into each") % {"every": every, "span": short_span(offset)}


def slot_words(slot: datetime, offset: int, timezone: str = "") -> str:
    """Say a whole-day row's slot on its zone's clock, UTC beside it.

    "Mon 30 Mar 09:00 CEST · 07:00 UTC"; a slot that a clock change moved off the row's time
    of day (``offset``) says so: "Sun 29 Mar 03:30 CEST (moved from 02:30: clock change)".
    """
    local, moved, utc = slot_parts(slot, offset, timezone)
    return " · ".join(part for part in (" ".join(filter(None, (local, moved))), utc) if part)


def slot_parts(slot: datetime, offset: int, timezone: str = "") -> tuple[str, str, str]:
    """Return what ``slot_words`` says in three parts: local time, the move's note, UTC.

    Without a zone (UTC) the local time is the UTC one, said once: ("", "", "… UTC").
    """
    utc = slot.astimezone(UTC)
    said_utc = f"{_clock(_seconds_of_day(utc))} UTC"
    if not timezone:
        return "", "", f"{date_format(utc, 'D j M')} {said_utc}"
    local = slot.astimezone(ZoneInfo(timezone))
    seconds = _seconds_of_day(local)
    moved = ""
    if seconds != offset % 86_400:
        moved = gettext("(moved from %(time)s: clock change)") % {"time": _clock(offset)}
    return f"{date_format(local, 'D j M')} {_clock(seconds)} {local.tzname()}", moved, said_utc


def _seconds_of_day(moment: datetime) -> int:
    return moment.hour * 3_600 + moment.minute * 60 + moment.second
