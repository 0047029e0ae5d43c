"""Time zones for whole-day rows: which names are accepted, and only with whole days.

Django-free (``autosched.register`` checks a zone before settings exist). The names are the
IANA ones ``zoneinfo`` knows; blank means UTC. A zone is only for an interval of whole days:
an hourly task has no local wall time to keep.
"""

from __future__ import annotations

import functools
import zoneinfo

__all__ = ["DAY", "MAX_ZONE_LENGTH", "WEEK", "ZoneError", "check_zone", "zone_names"]

DAY = 86_400
WEEK = 7 * DAY
#: The longest IANA name is 32 characters ("America/Argentina/ComodRivadavia").
MAX_ZONE_LENGTH = 64


class ZoneError(ValueError):
    """A time zone that a row cannot have; ``code`` says why ("unknown" or "sub_day")."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


#: Names some systems list that are no place: "localtime" differs from machine to machine.
NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Return every IANA zone name this machine knows, sorted."""
    return tuple(sorted(zoneinfo.available_timezones() - NOT_PLACES))


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(zone_names())


def check_zone(timezone: object, interval_seconds: object) -> str:
    """Return ``timezone`` ("" for none) if a row of ``interval_seconds`` may have it, else raise.

    An unknown name raises ``ZoneError`` with code "unknown"; a zone on an interval that is not
    a whole number of days, code "sub_day". The messages are English, for logs and code.
    """
    if timezone is None or timezone == "":
        return ""
    if not isinstance(timezone, str) or timezone not in _known():
        raise ZoneError(
            f"unknown time zone {timezone!r}: give an IANA name such as 'Europe/Madrid'",
            code="unknown",
        )
    whole_days = isinstance(interval_seconds, int) and interval_seconds % DAY == 0
    if not whole_days or isinstance(interval_seconds, bool):
        raise ZoneError(
            f"a time zone ({timezone}) needs an interval of whole days, "
            f"not {interval_seconds!r} seconds",
            code="sub_day",
        )
    return timezone
