"""TaskSync: a row Python cannot read back costs only itself, on a full load and a poll."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection

from autosched.models import PeriodicTask
from autosched.runner.sync import TaskSync
from autosched.scheduler import Scheduler
from tests.unreadable import kinds, make_unreadable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_default_rows() -> None:
    PeriodicTask.objects.all().delete()


SYNC = "tests.testapp.tasks.no_default"
KINDS = kinds(connection.vendor)


def make_task(name: str, **fields: Any) -> PeriodicTask:
    return PeriodicTask.objects.create(name=name, function=SYNC, interval_seconds=60, **fields)


def skipping(caplog: pytest.LogCaptureFixture, task: PeriodicTask) -> list[str]:
    prefix = f"Skipping periodic task #{task.pk} "
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_load_skips_an_unreadable_row_and_loads_the_others(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_task("a")
    bad = make_task("bad")
    make_task("z")
    make_unreadable(bad.pk, kind)
    sync, scheduler = TaskSync(), Scheduler()
    with caplog.at_level(logging.WARNING, "autosched"):
        sync.apply(scheduler, sync.reload())
        sync.apply(scheduler, sync.reload())  # warned once, not at each reload
    assert set(scheduler.tasks) == {"a", "z"}
    assert list(sync.skipped) == [bad.pk]
    [warning] = skipping(caplog, bad)
    assert "cannot be read" in warning or "not text" in warning


@pytest.mark.parametrize("kind", KINDS)
def test_a_poll_drops_a_row_that_became_unreadable_and_keeps_the_others(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_task("a")
    bad = make_task("bad")
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    assert set(scheduler.tasks) == {"a", "bad"}
    make_unreadable(bad.pk, kind)
    with caplog.at_level(logging.WARNING, "autosched"):
        changes = sync.poll()
        sync.apply(scheduler, changes)
    assert not changes.full
    assert set(scheduler.tasks) == {"a"}
    assert len(skipping(caplog, bad)) == 1
    # Deleted from the admin, it is forgotten.
    PeriodicTask.objects.filter(pk=bad.pk).delete()
    sync.apply(scheduler, sync.poll())
    assert sync.skipped == {}


@pytest.mark.sqlite_only  # text that is not UTF-8 can be stored on SQLite only
def test_a_row_the_driver_cannot_decode_costs_only_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = [make_task(f"t{number:02}") for number in range(20)]
    bad = tasks[7]
    with connection.cursor() as cursor:  # an invalid UTF-8 byte stored as TEXT
        cursor.execute(
            "UPDATE autosched_periodictask SET name = CAST(X'ff' AS TEXT) WHERE id = %s",
            [bad.pk],
        )
    with pytest.raises(Exception, match="decode"):
        list(PeriodicTask.objects.values_list("name"))  # what breaks the whole read
    sync, scheduler = TaskSync(), Scheduler()
    with caplog.at_level(logging.WARNING, "autosched"):
        sync.apply(scheduler, sync.reload())
    assert set(scheduler.tasks) == {task.name for task in tasks} - {"t07"}
    [warning] = skipping(caplog, bad)
    assert "decode" in warning


def test_a_row_whose_apply_raises_anything_is_skipped_alone(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_task("a")
    make_task("odd")
    make_task("z")
    scheduler = Scheduler()
    add_task = scheduler.add_task

    def add_or_fail(name: str, *args: Any, **kwargs: Any) -> None:
        if name == "odd":
            raise ZeroDivisionError("an error nobody expected")
        add_task(name, *args, **kwargs)

    monkeypatch.setattr(scheduler, "add_task", add_or_fail)
    sync = TaskSync()
    with caplog.at_level(logging.WARNING, "autosched"):
        sync.apply(scheduler, sync.reload())
    assert set(scheduler.tasks) == {"a", "z"}
    assert "Skipping periodic task 'odd': ZeroDivisionError: an error nobody expected" in (
        caplog.text
    )
