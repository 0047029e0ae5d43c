"""Spans of time in words: intervals, exactly ("every 1 minute 30 seconds")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import translation

from autosched.humanize import humanize_interval, schedule_words, slot_words
from autosched.scheduler import MAX_INTERVAL_SECONDS


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "every second"),
        (2, "every 2 seconds"),
        (60, "every minute"),
        (90, "every 1 minute 30 seconds"),
        (300, "every 5 minutes"),
        (3_600, "every hour"),
        (3_601, "every 1 hour 1 second"),
        (7_200, "every 2 hours"),
        (86_400, "every day"),
        (90_061, "every 1 day 1 hour 1 minute 1 second"),
        (172_800, "every 2 days"),
        (MAX_INTERVAL_SECONDS, "every 365 days"),
    ],
)
def test_humanize_interval_says_the_exact_interval(seconds: int, words: str) -> None:
    assert humanize_interval(seconds) == words


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "60"])
def test_humanize_interval_rejects_what_is_not_an_interval(bad: object) -> None:
    with pytest.raises(ValueError, match=f"not {bad!r}"):
        humanize_interval(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("interval", "offset", "words"),
    [
        (86400, 10800, "every day at 03:00 (UTC)"),
        (2 * 86400, 86400 + 32400, "every 2 days at 09:00 (UTC)"),
        (7 * 86400, 4 * 86400 + 32400, "every Monday at 09:00 (UTC)"),
        (14 * 86400, 10 * 86400 + 32400, "every 2 weeks on Sunday at 09:00 (UTC)"),
        (3600, 900, "every hour at :15"),
        (600, 180, "every 10 minutes (at :03, :13, …)"),
        (21600, 10800, "every 6 hours (at 03:00, 09:00, … UTC)"),
        (60, 15, "every minute (at second 15)"),
        (15, 3, "every 15 seconds"),
    ],
)
def test_schedules_in_words(interval: int, offset: int, words: str) -> None:
    assert schedule_words(interval, offset) == words


@pytest.mark.parametrize(
    ("interval", "offset", "words"),
    [
        (86400, 32400, "every day at 09:00 (Europe/Madrid)"),
        (7 * 86400, 4 * 86400 + 32400, "every Monday at 09:00 (Europe/Madrid)"),
        (3 * 86400, 9000, "every 3 days at 02:30 (Europe/Madrid)"),
    ],
)
def test_whole_day_schedules_name_their_zone(interval: int, offset: int, words: str) -> None:
    assert schedule_words(interval, offset, timezone="Europe/Madrid") == words


def test_whole_day_schedules_in_spanish() -> None:
    with translation.override("es"):
        assert schedule_words(86400, 32400, timezone="Europe/Madrid") == (
            "cada día a las 09:00 (Europe/Madrid)"
        )
        assert schedule_words(7 * 86400, 4 * 86400 + 32400, timezone="Europe/Madrid") == (
            "cada lunes a las 09:00 (Europe/Madrid)"
        )
        assert schedule_words(14 * 86400, 32400) == "cada 2 semanas el jueves a las 09:00 (UTC)"


@pytest.mark.parametrize(
    ("slot", "words"),
    [
        # A daily 02:30 Europe/Madrid row around both 2026 clock changes.
        (datetime(2026, 3, 28, 1, 30, tzinfo=UTC), "Sat 28 Mar 02:30 CET · 01:30 UTC"),
        (
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            "Sun 29 Mar 03:30 CEST (moved from 02:30: clock change) · 01:30 UTC",
        ),
        (datetime(2026, 3, 30, 0, 30, tzinfo=UTC), "Mon 30 Mar 02:30 CEST · 00:30 UTC"),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Sun 25 Oct 02:30 CEST · 00:30 UTC"),
        (datetime(2026, 10, 26, 1, 30, tzinfo=UTC), "Mon 26 Oct 02:30 CET · 01:30 UTC"),
    ],
)
def test_a_slot_is_said_on_the_zones_clock_with_utc_beside_it(slot: datetime, words: str) -> None:
    assert slot_words(slot, 9000, "Europe/Madrid") == words


def test_a_utc_slot_is_said_once() -> None:
    assert slot_words(datetime(2026, 3, 29, 2, 30, tzinfo=UTC), 9000) == "Sun 29 Mar 02:30 UTC"
