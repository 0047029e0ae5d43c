"""PeriodicTask: validation of every field, the registry lookups, the queryset and ordering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction

from autosched.models import PeriodicTask

HEARTBEAT = "tests.testapp.tasks.heartbeat"
NO_DEFAULT = "tests.testapp.tasks.no_default"
GREET = "tests.testapp.tasks.greet"

pytestmark = pytest.mark.django_db


def make(**fields: object) -> PeriodicTask:
    values: dict[str, object] = {"name": "t", "function": HEARTBEAT, "interval_seconds": 60}
    values.update(fields)
    return PeriodicTask(**values)


def test_a_valid_task_passes_full_clean() -> None:
    make().full_clean()


def test_str_is_the_name() -> None:
    assert str(make(name="nightly")) == "nightly"


def test_is_registered_follows_the_registry() -> None:
    assert make().is_registered
    assert make().registered_function is not None
    assert not make(function="gone.module.func").is_registered
    assert make(function="gone.module.func").registered_function is None


def test_full_clean_rejects_an_unregistered_function_by_name() -> None:
    with pytest.raises(ValidationError) as caught:
        make(function="gone.module.func").full_clean()
    assert caught.value.message_dict == {
        "function": [
            "gone.module.func is not a registered function. Choose one registered with "
            "@autosched.register, or deploy the code that registers it."
        ]
    }


def test_full_clean_excluding_function_accepts_an_unregistered_row() -> None:
    # The admin's list editing leaves function out, so a dead row can still be disabled.
    make(function="gone.module.func", enabled=False).full_clean(exclude=["function"])


@pytest.mark.parametrize("bad", [0, -1, 31_536_001])
def test_full_clean_rejects_an_interval_out_of_range(bad: int) -> None:
    with pytest.raises(ValidationError) as caught:
        make(interval_seconds=bad).full_clean()
    assert list(caught.value.message_dict) == ["interval_seconds"]


def test_the_database_rejects_an_interval_of_zero() -> None:
    with pytest.raises(IntegrityError):
        PeriodicTask.objects.create(name="t", function=HEARTBEAT, interval_seconds=0)


def test_interval_display_is_in_words() -> None:
    assert make(interval_seconds=300).interval_display == "every 5 minutes"
    assert make(interval_seconds=None).interval_display == ""


def test_timestamps_are_set_on_save() -> None:
    task = make()
    task.save()
    assert task.created_at is not None
    assert task.updated_at >= task.created_at


def test_queryset_splits_registered_and_unregistered_rows() -> None:
    PeriodicTask.objects.create(name="dead", function="gone.module.func", interval_seconds=5)
    assert list(PeriodicTask.objects.unregistered().values_list("name", flat=True)) == ["dead"]
    assert "dead" not in PeriodicTask.objects.registered().values_list("name", flat=True)
    assert PeriodicTask.objects.registered().count() == 2


def test_default_ordering_is_by_name() -> None:
    PeriodicTask.objects.all().delete()
    for name in ("b", "a", "c"):
        PeriodicTask.objects.create(name=name, function=HEARTBEAT, interval_seconds=5)
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["a", "b", "c"]


def test_model_rejects_an_unknown_backend_for_worker_runs() -> None:
    task = PeriodicTask(
        name="w", function=NO_DEFAULT, interval_seconds=5, run_on="worker", tasks_backend="nope"
    )
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "'nope' is not a backend in the TASKS setting" in str(raised.value.message_dict)
    task.run_on = "process"  # the backend does not matter then
    task.full_clean()


@pytest.mark.parametrize("priority", [-101, 101])
def test_model_rejects_a_priority_out_of_range(priority: int) -> None:
    task = PeriodicTask(name="w", function=NO_DEFAULT, interval_seconds=5, priority=priority)
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "priority" in raised.value.message_dict


@pytest.mark.django_db
def test_the_model_knows_the_expected_next_run() -> None:
    task = PeriodicTask(
        name="nightly", function=NO_DEFAULT, interval_seconds=86400, offset_seconds=10800
    )
    after = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert task.expected_next_run(after) == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert task.schedule_display == "every day at 03:00 (UTC)"
    task.enabled = False
    assert task.expected_next_run(after) is None


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [60, 61, -1])
def test_an_offset_not_below_the_interval_is_refused(offset: int) -> None:
    task = PeriodicTask(name="t", function=NO_DEFAULT, interval_seconds=60, offset_seconds=offset)
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "offset_seconds" in raised.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_offset_not_below_the_interval() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        PeriodicTask.objects.create(
            name="t", function=NO_DEFAULT, interval_seconds=60, offset_seconds=60
        )
    # PostgreSQL's integer column refuses it first (DataError); SQLite's constraint does.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        PeriodicTask.objects.create(name="u", function=NO_DEFAULT, interval_seconds=2**40)


@pytest.mark.django_db
def test_full_clean_refuses_an_unknown_kwarg() -> None:
    task = PeriodicTask(name="g", function=GREET, interval_seconds=60, kwargs={"whom": "ann"})
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "unknown argument 'whom'" in str(raised.value.message_dict["kwargs"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Dup", "dup already exists; names may not differ only in case"),
        ("zero\u200bwidth", "U+200B"),
        (" padded", "without leading or trailing spaces"),
        ("tab\there", "U+0009"),
    ],
)
def test_names_that_would_confuse_are_refused(name: str, problem: str) -> None:
    PeriodicTask.objects.create(name="dup", function=NO_DEFAULT, interval_seconds=60)
    task = PeriodicTask(name=name, function=NO_DEFAULT, interval_seconds=60)
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert problem in str(raised.value.message_dict["name"])


@pytest.mark.django_db
def test_a_worker_row_needs_a_queue(settings: Any) -> None:
    task = PeriodicTask(
        name="w", function=NO_DEFAULT, interval_seconds=60, run_on="worker", queue_name=" "
    )
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    assert "A worker run needs a queue name." in str(raised.value.message_dict["queue_name"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "values",
    [
        {"interval_seconds": 40_000_000},  # above the one-year maximum
        {"run_on": "bogus"},
        {"timeout_seconds": 0},
    ],
)
def test_the_database_refuses_what_the_form_would(values: dict[str, Any]) -> None:
    row = PeriodicTask.objects.create(name="t", function=NO_DEFAULT, interval_seconds=60)
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        PeriodicTask.objects.filter(pk=row.pk).update(**values)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", ["'abc'", "1.5", "x'00ff'"])
def test_a_value_of_the_wrong_type_written_by_raw_sql_is_never_stored(value: str) -> None:
    # SQLite's type affinity would store any of these: autosched's triggers refuse them.
    # PostgreSQL refuses them itself, or casts them to an integer (1.5 is stored as 2).
    row = PeriodicTask.objects.create(name="t", function=NO_DEFAULT, interval_seconds=60)
    sql = f"UPDATE autosched_periodictask SET interval_seconds = {value} WHERE id = %s"
    refused = None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])
    except (IntegrityError, DataError, ProgrammingError) as exc:  # bit to integer: no cast
        refused = exc
    stored = PeriodicTask.objects.values_list("interval_seconds", flat=True).get(pk=row.pk)
    assert type(stored) is int
    if connection.vendor == "sqlite":
        assert "interval_seconds must be an integer" in str(refused)


@pytest.mark.django_db
@pytest.mark.parametrize("interval", [86400, 7 * 86400, 2 * 86400])
@pytest.mark.parametrize("zone", ["", "UTC", "Europe/Madrid", "America/New_York"])
def test_a_zone_is_accepted_on_whole_days(interval: int, zone: str) -> None:
    make(interval_seconds=interval, offset_seconds=32400, timezone=zone).full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("interval", [3600, 86400 + 1, 43200])
def test_full_clean_refuses_a_zone_on_a_sub_day_interval(interval: int) -> None:
    task = make(interval_seconds=interval, timezone="Europe/Madrid")
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    (message,) = raised.value.message_dict["timezone"]
    assert message == (
        f"A time zone is only for an interval of whole days (1d, 7d, …), not {interval} "
        "seconds: leave it empty, or make the interval whole days."
    )


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Europe/Madird", "europe/madrid", "CEST", " UTC", "localtime"])
def test_full_clean_refuses_an_unknown_zone(zone: str) -> None:
    task = make(interval_seconds=86400, timezone=zone)
    with pytest.raises(ValidationError) as raised:
        task.full_clean()
    (message,) = raised.value.message_dict["timezone"]
    assert message.startswith(f"{zone} is not a time zone autosched knows")


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_zone_on_a_sub_day_interval() -> None:
    row = PeriodicTask.objects.create(
        name="t", function=NO_DEFAULT, interval_seconds=86400, timezone="Europe/Madrid"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        PeriodicTask.objects.filter(pk=row.pk).update(interval_seconds=3600)
    with pytest.raises(IntegrityError), transaction.atomic():
        PeriodicTask.objects.create(
            name="u", function=NO_DEFAULT, interval_seconds=90000, timezone="UTC"
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE autosched_periodictask SET interval_seconds = 60 WHERE id = %s", [row.pk]
        )
    # Blank is UTC, on any interval.
    PeriodicTask.objects.filter(pk=row.pk).update(timezone="", interval_seconds=60)
