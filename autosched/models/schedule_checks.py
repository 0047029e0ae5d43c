"""The checks of a row's schedule together: its offset and its time zone against its interval."""

from __future__ import annotations

from collections.abc import Collection

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from autosched.zones import ZoneError, check_zone

__all__ = ["ZONE_MESSAGES", "ScheduleChecks"]

#: What the form and ``full_clean`` say when a time zone cannot be had, by ZoneError.code.
ZONE_MESSAGES = {
    "unknown": _(
        "%(zone)s is not a time zone autosched knows: choose an IANA name from the list, "
        "such as Europe/Madrid, or leave it empty for UTC."
    ),
    "sub_day": _(
        "A time zone is only for an interval of whole days (1d, 7d, …), not %(interval)s "
        "seconds: leave it empty, or make the interval whole days."
    ),
}


class ScheduleChecks:
    """``PeriodicTask``'s checks of the offset and the zone, which ``clean_fields`` calls."""

    interval_seconds: int
    offset_seconds: int | None
    timezone: str

    @staticmethod
    def _blamed(field: str, exclude: Collection[str] | None) -> str | None:
        """Return the field to put an error about ``field`` and the interval on, or None.

        A form leaving ``field`` out (the list's interval editing) cannot show an error on it:
        the interval it changed takes it. A check of neither field is skipped.
        """
        if not exclude or field not in exclude:
            return field
        return None if "interval_seconds" in exclude else "interval_seconds"

    def _check_offset(
        self, errors: dict[str, list[ValidationError]], exclude: Collection[str] | None
    ) -> None:
        offset, interval = self.offset_seconds, self.interval_seconds
        blamed = self._blamed("offset_seconds", exclude)
        if (
            offset is None
            or blamed is None
            or errors.keys() & {"offset_seconds", "interval_seconds"}
        ):
            return
        if not isinstance(offset, int) or not isinstance(interval, int) or offset >= interval:
            errors[blamed] = [
                ValidationError(
                    _(
                        "The offset must be below the interval (%(interval)s s): it says where "
                        "in each interval the runs fall."
                    ),
                    code="offset_not_below_interval",
                    params={"interval": interval},
                )
            ]

    def _check_timezone(
        self, errors: dict[str, list[ValidationError]], exclude: Collection[str] | None
    ) -> None:
        blamed = self._blamed("timezone", exclude)
        if blamed is None or errors.keys() & {"timezone", "interval_seconds"}:
            return
        try:
            check_zone(self.timezone, self.interval_seconds)
        except ZoneError as exc:
            errors[blamed] = [
                ValidationError(
                    ZONE_MESSAGES[exc.code],
                    code=f"timezone_{exc.code}",
                    params={"zone": self.timezone, "interval": self.interval_seconds},
                )
            ]
