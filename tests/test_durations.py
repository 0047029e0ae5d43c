"""Spans and times typed by operators: parsed, and shown back the same way."""

from __future__ import annotations

import pytest
from django.utils import translation

from autosched.durations import format_interval, format_offset, parse_interval, parse_offset


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h 30m", 5400), ("2d", 172800), ("1h30m", 5400)],
)
def test_intervals_in_words(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds
    assert parse_interval(format_interval(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "abc", "15x", "1h 30", "-5", "1.5h"])
def test_a_bad_interval_names_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r'"15m", "1h 30m"'):
        parse_interval(text)


@pytest.mark.parametrize(("text", "seconds"), [("03:00", 10800), ("0:15:00", 900), ("900", 900)])
def test_offsets_as_times_or_seconds(text: str, seconds: int) -> None:
    assert parse_offset(text) == seconds
    assert parse_offset(format_offset(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Mon 09:00", 4 * 86400 + 32400),  # 1970-01-05, the grid's first Monday
        ("monday 09:00", 4 * 86400 + 32400),
        ("Thu 00:00", 0),
        ("Wed 23:59:30", 6 * 86400 + 86370),
        ("Sun. 9:00", 3 * 86400 + 32400),
    ],
)
def test_a_weekday_and_a_time_for_weekly_rows(text: str, seconds: int) -> None:
    assert parse_offset(text) == seconds
    assert format_offset(seconds, weekly=True) == text.split()[0][:3].title() + " " + (
        format_offset(seconds % 86400)
    )
    assert parse_offset(format_offset(seconds, weekly=True)) == seconds


def test_weekdays_in_the_active_language() -> None:
    with translation.override("es"):
        assert format_offset(4 * 86400 + 32400, weekly=True) == "lun 09:00"
        assert parse_offset("lun 09:00") == parse_offset("lunes 09:00") == 4 * 86400 + 32400
        assert parse_offset("miércoles 10:00") == 6 * 86400 + 36000
        assert parse_offset("Mon 09:00") == 4 * 86400 + 32400  # English is read too


@pytest.mark.parametrize("text", ["Mon", "Mon 25:00", "Fooday 09:00", "Mon 1d"])
def test_a_bad_weekday_offset_names_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r'"Mon 09:00" for a weekly row'):
        parse_offset(text)


def test_a_daily_offset_is_a_time_or_seconds_as_before() -> None:
    assert parse_offset("09:00") == parse_offset("32400") == 32400
    assert format_offset(32400, weekly=True) == "Thu 09:00"
    assert format_offset(8 * 86400, weekly=True) == "192:00"  # past the first week: hours
