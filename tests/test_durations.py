"""Spans and times typed by operators: parsed, and shown back the same way."""

from __future__ import annotations

import pytest

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
