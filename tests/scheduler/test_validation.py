"""The core's input checks and errors: every bad value is refused at the call."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from autosched.scheduler import (
    MIN_INTERVAL_SECONDS,
    Scheduler,
)
from autosched.scheduler.validation import (
    MAX_INTERVAL_SECONDS,
    TaskNotFoundError,
    TaskTypeError,
    check_interval,
    check_name,
)


@pytest.mark.parametrize("value", [1, 0.5, 300, Fraction(1, 4)])
def test_check_interval_accepts_positive_numbers(value: object) -> None:
    assert check_interval("t", value) == value


@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan, math.inf, MAX_INTERVAL_SECONDS + 1])
def test_check_interval_rejects_bad_values(value: object) -> None:
    with pytest.raises(ValueError, match=r"'t': interval_seconds") as info:
        check_interval("t", value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [True, False, "5", None, [1]])
def test_check_interval_rejects_bad_types_as_type_and_value_error(value: object) -> None:
    with pytest.raises(TaskTypeError) as info:
        check_interval("t", value)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ValueError)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_check_name_rejects_blank(name: str) -> None:
    with pytest.raises(ValueError, match="empty or blank"):
        check_name(name)


def test_task_not_found_error_reads_as_a_sentence() -> None:
    error = TaskNotFoundError("No task named 'x'.")
    assert str(error) == "No task named 'x'."
    assert isinstance(error, KeyError)
    assert isinstance(error, LookupError)


@pytest.mark.parametrize("interval", [1e-300, 5e-324, 1e-20, MIN_INTERVAL_SECONDS / 2])
def test_intervals_below_a_millisecond_are_refused(interval: float) -> None:
    scheduler = Scheduler()
    with pytest.raises(ValueError, match=r"from 0\.001"):
        scheduler.add_task("tiny", lambda: None, interval)
    scheduler.add_task("ok", lambda: None, 1)
    with pytest.raises(ValueError, match=r"from 0\.001"):
        scheduler.update_task_interval("ok", interval)
    assert scheduler.tasks["ok"].interval_seconds == 1
