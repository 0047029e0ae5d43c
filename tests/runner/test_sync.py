"""TaskSync: reading changed rows and applying them to a Scheduler."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autosched.models import PeriodicTask, TaskChange
from autosched.registry import (
    registry,
)
from autosched.runner.sync import (
    MAX_CHANGES_PER_POLL,
    PRUNE_EVERY,
    STEP_ROWS,
    Changes,
    Row,
    TaskSync,
)
from autosched.schedule import spread_offset
from autosched.scheduler import Scheduler
from tests.runner.helpers import FakeClock
from tests.tasks_backend import IMMEDIATE, needs_tasks
from tests.testapp import tasks
from tests.waiting import wait_until_async

SYNC = "tests.testapp.tasks.no_default"
ASYNC = "tests.testapp.tasks.async_no_default"
MISSING = "tests.testapp.tasks.not_registered"
GREET = "tests.testapp.tasks.greet"
SLOT = "tests.testapp.tasks.on_the_slot"

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sync(clock: FakeClock) -> TaskSync:
    return TaskSync(clock=clock)


@pytest.fixture
def scheduler() -> Scheduler:
    return Scheduler()


def make_task(name: str, function: str = SYNC, **fields: Any) -> PeriodicTask:
    values: dict[str, Any] = {"interval_seconds": 60, "enabled": True, **fields}
    return PeriodicTask.objects.create(name=name, function=function, **values)


def first_sync(sync: TaskSync, scheduler: Scheduler) -> None:
    sync.apply(scheduler, sync.reload())
    # The first poll prunes old changes; later ones within a minute do not.
    sync.apply(scheduler, sync.poll())


def resync(sync: TaskSync, scheduler: Scheduler) -> Changes:
    changes = sync.poll()
    sync.apply(scheduler, changes)
    return changes


def test_first_sync_adds_enabled_and_disabled_rows(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("on", interval_seconds=5)
    make_task("off", ASYNC, enabled=False)
    first_sync(sync, scheduler)
    assert scheduler.tasks["on"].enabled
    assert scheduler.tasks["on"].interval_seconds == 5
    assert not scheduler.tasks["off"].enabled


def test_created_row_is_added(sync: TaskSync, scheduler: Scheduler) -> None:
    first_sync(sync, scheduler)
    make_task("new", interval_seconds=7)
    changes = resync(sync, scheduler)
    assert not changes.full
    assert scheduler.tasks["new"].interval_seconds == 7


def test_disabled_then_enabled(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("job")
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").update(enabled=False)
    resync(sync, scheduler)
    assert not scheduler.tasks["job"].enabled
    PeriodicTask.objects.filter(name="job").update(enabled=True)
    resync(sync, scheduler)
    assert scheduler.tasks["job"].enabled


def test_retimed(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("job", interval_seconds=60)
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").update(interval_seconds=2)
    resync(sync, scheduler)
    assert scheduler.tasks["job"].interval_seconds == 2


def test_renamed(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("old")
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="old").update(name="new")
    resync(sync, scheduler)
    assert "old" not in scheduler.tasks
    assert "new" in scheduler.tasks


def test_names_swapped_in_one_batch(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("a", interval_seconds=1)
    make_task("b", interval_seconds=2)
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="a").update(name="tmp")
    PeriodicTask.objects.filter(name="b").update(name="a")
    PeriodicTask.objects.filter(name="tmp").update(name="b")
    resync(sync, scheduler)
    assert scheduler.tasks["a"].interval_seconds == 2
    assert scheduler.tasks["b"].interval_seconds == 1


def test_function_change_replaces_the_task(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("job", SYNC)
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").update(function=ASYNC)
    resync(sync, scheduler)
    assert scheduler.tasks["job"].func is tasks.async_no_default


def test_deleted_row_is_removed(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("job")
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").delete()
    changes = resync(sync, scheduler)
    assert changes.deleted
    assert "job" not in scheduler.tasks


def test_name_freed_by_delete_is_reused_in_the_same_batch(
    sync: TaskSync, scheduler: Scheduler
) -> None:
    make_task("job", interval_seconds=60)
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").delete()
    make_task("job", interval_seconds=9)
    resync(sync, scheduler)
    assert scheduler.tasks["job"].interval_seconds == 9


def test_unregistered_row_is_skipped_with_one_warning(
    sync: TaskSync, scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    make_task("ghost", MISSING)
    with caplog.at_level(logging.WARNING, logger="autosched"):
        first_sync(sync, scheduler)
        sync.apply(scheduler, sync.reload())
        PeriodicTask.objects.filter(name="ghost").update(interval_seconds=60)  # unchanged row
        resync(sync, scheduler)
    assert "ghost" not in scheduler.tasks
    warnings = [r for r in caplog.records if "ghost" in r.getMessage()]
    assert len(warnings) == 1
    assert MISSING in warnings[0].getMessage()
    assert set(sync.skipped) == {PeriodicTask.objects.get(name="ghost").id}


def test_unregistered_row_is_warned_again_after_it_changes(
    sync: TaskSync, scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    make_task("ghost", MISSING)
    first_sync(sync, scheduler)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="autosched"):
        PeriodicTask.objects.filter(name="ghost").update(interval_seconds=30)
        resync(sync, scheduler)
    assert len([r for r in caplog.records if "ghost" in r.getMessage()]) == 1


def test_row_switched_to_unregistered_function_is_removed(
    sync: TaskSync, scheduler: Scheduler
) -> None:
    make_task("job")
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").update(function=MISSING)
    resync(sync, scheduler)
    assert "job" not in scheduler.tasks
    PeriodicTask.objects.filter(name="job").update(function=SYNC)
    resync(sync, scheduler)
    assert "job" in scheduler.tasks
    assert not sync.skipped


def test_name_taken_by_a_task_added_in_code_is_skipped(
    sync: TaskSync, scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler.add_task("job", lambda: None, 5)
    make_task("job")
    with caplog.at_level(logging.WARNING, logger="autosched"):
        first_sync(sync, scheduler)
    assert scheduler.tasks["job"].interval_seconds == 5
    assert "already exists" in caplog.text


def test_idle_poll_is_one_query(sync: TaskSync, scheduler: Scheduler) -> None:
    for i in range(20):
        make_task(f"job{i}")
    first_sync(sync, scheduler)
    with CaptureQueriesContext(connection) as queries:
        changes = sync.poll()
    assert not changes
    assert len(queries) == 1
    assert "autosched_periodictask" not in queries[0]["sql"]


def test_poll_with_changes_reads_only_the_changed_rows(
    sync: TaskSync, scheduler: Scheduler
) -> None:
    for i in range(20):
        make_task(f"job{i}")
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job3").update(enabled=False)
    with CaptureQueriesContext(connection) as queries:
        changes = sync.poll()
    assert [row.name for row in changes.rows.values()] == ["job3"]
    assert len(queries) == 2


def test_pruned_history_triggers_a_full_reload(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("job")
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name="job").update(interval_seconds=3)
    make_task("other")
    TaskChange.objects.all().delete()
    changes = resync(sync, scheduler)
    assert changes.full
    assert scheduler.tasks["job"].interval_seconds == 3
    assert "other" in scheduler.tasks


def test_partly_pruned_history_triggers_a_full_reload(sync: TaskSync, scheduler: Scheduler) -> None:
    first_sync(sync, scheduler)
    assert sync.revision is not None
    make_task("a")
    make_task("b")
    TaskChange.objects.filter(revision=sync.revision + 1).delete()
    assert resync(sync, scheduler).full
    assert {"a", "b"} <= scheduler.tasks.keys()


def test_many_changes_trigger_a_full_reload(sync: TaskSync, scheduler: Scheduler) -> None:
    first_sync(sync, scheduler)
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"bulk{i}", function=SYNC, interval_seconds=60)
        for i in range(MAX_CHANGES_PER_POLL + 1)
    )
    assert resync(sync, scheduler).full
    assert f"bulk{MAX_CHANGES_PER_POLL}" in scheduler.tasks


def test_full_reload_removes_rows_deleted_meanwhile(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("job")
    make_task("ghost", MISSING)
    first_sync(sync, scheduler)
    PeriodicTask.objects.filter(name__in=["job", "ghost"]).delete()
    sync.apply(scheduler, sync.reload())
    assert "job" not in scheduler.tasks
    assert not sync.skipped


def test_old_changes_are_pruned_at_most_once_a_minute(
    sync: TaskSync, scheduler: Scheduler, clock: FakeClock
) -> None:
    make_task("old")
    TaskChange.objects.update(changed_at=timezone.now() - timedelta(hours=2))
    first_sync(sync, scheduler)  # prunes
    assert not TaskChange.objects.exists()
    make_task("recent")
    TaskChange.objects.update(changed_at=timezone.now() - timedelta(hours=2))
    sync.poll()
    assert TaskChange.objects.exists()  # not a minute later yet
    clock.now += PRUNE_EVERY
    sync.poll()
    assert not TaskChange.objects.exists()


def test_fresh_changes_are_kept_with_use_tz_off_east_of_utc(
    sync: TaskSync, scheduler: Scheduler, settings: Any
) -> None:
    # With USE_TZ = False, "now" in Python is local (here UTC+9) while the trigger stamps
    # changed_at by the database's clock, in UTC: pruning must compare like with like.
    settings.USE_TZ, settings.TIME_ZONE = False, "Asia/Tokyo"
    make_task("fresh")
    first_sync(sync, scheduler)  # prunes what is older than an hour, by the database's clock
    assert TaskChange.objects.exists()


def test_a_row_with_an_unknown_run_on_is_skipped(
    sync: TaskSync, scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    # Only a database migrated before the run_on constraint could hold one.
    row = Row(1, "odd", SYNC, 60, True, run_on="bogus", kwargs={})
    with caplog.at_level(logging.WARNING, logger="autosched"):
        sync.apply(scheduler, Changes(rows={1: row}, full=True))
    assert "odd" not in scheduler.tasks
    assert "run_on is 'bogus', neither 'process' nor 'worker'" in caplog.text


def test_changes_is_false_when_empty() -> None:
    row = Row(1, "job", SYNC, 60, True)
    assert not Changes()
    assert Changes(rows={1: row})
    assert Changes(deleted=frozenset({1}))
    assert Changes(full=True)


def test_sync_functions_are_wrapped_for_fresh_connections(
    sync: TaskSync, scheduler: Scheduler
) -> None:
    make_task("job", SYNC)
    first_sync(sync, scheduler)
    func = scheduler.tasks["job"].func
    assert func is not tasks.no_default
    assert getattr(func, "__wrapped__", None) is tasks.no_default


def test_registry_is_consulted_not_imported(sync: TaskSync, scheduler: Scheduler) -> None:
    # A row naming an importable but unregistered dotted path is not run.
    make_task("sneaky", "os.getcwd")
    first_sync(sync, scheduler)
    assert "os.getcwd" not in registry
    assert "sneaky" not in scheduler.tasks


def test_backends_without_triggers_reload_every_sync(
    sync: TaskSync, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autosched.runner.sync.TRIGGER_VENDORS", frozenset())
    first_sync(sync, scheduler)
    make_task("job")
    assert resync(sync, scheduler).full
    assert "job" in scheduler.tasks


@pytest.fixture
def immediate_backend(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@needs_tasks
@pytest.mark.django_db
@pytest.mark.usefixtures("immediate_backend")
def test_sync_enqueues_worker_rows_and_rebuilds_on_a_target_change() -> None:
    PeriodicTask.objects.all().delete()
    row = PeriodicTask.objects.create(name="w", function=SYNC, interval_seconds=5)
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    in_process = scheduler.tasks["w"].func
    PeriodicTask.objects.filter(pk=row.pk).update(run_on="worker", queue_name="default")
    sync.apply(scheduler, sync.poll())
    assert scheduler.tasks["w"].func is not in_process
    tasks.calls.clear()
    asyncio.run(scheduler.tasks["w"].func())
    assert tasks.calls == ["no_default"]  # through the immediate backend


@pytest.mark.django_db
def test_the_sync_puts_rows_on_their_utc_grid() -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(
        name="pinned", function=SYNC, interval_seconds=3600, offset_seconds=900
    )
    PeriodicTask.objects.create(name="spread", function=SYNC, interval_seconds=3600)
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    assert scheduler.tasks["pinned"].offset_seconds == 900
    assert scheduler.tasks["spread"].offset_seconds == spread_offset("spread", 3600)
    status = scheduler.get_task_status("pinned")
    assert status is not None
    assert datetime.fromisoformat(status["next_run"]).minute == 15
    PeriodicTask.objects.filter(name="pinned").update(offset_seconds=1800)
    sync.apply(scheduler, sync.poll())
    assert scheduler.tasks["pinned"].offset_seconds == 1800


@pytest.mark.django_db
def test_two_rows_call_one_function_with_their_own_kwargs() -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(
        name="ann", function=GREET, interval_seconds=60, kwargs={"who": "ann", "times": 2}
    )
    PeriodicTask.objects.create(
        name="bob", function=GREET, interval_seconds=60, kwargs={"who": "bob"}
    )
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    tasks.greetings.clear()
    scheduler.tasks["ann"].func()
    scheduler.tasks["bob"].func()
    assert tasks.greetings == [("ann", 2), ("bob", 1)]


@pytest.mark.django_db
def test_a_row_with_a_bad_kwarg_written_behind_the_form_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.bulk_create(
        [
            PeriodicTask(name="bad", function=GREET, interval_seconds=60, kwargs={"whom": "x"}),
            PeriodicTask(name="good", function=GREET, interval_seconds=60, kwargs={"who": "y"}),
        ]
    )
    sync, scheduler = TaskSync(), Scheduler()
    with caplog.at_level(logging.WARNING, logger="autosched"):
        sync.apply(scheduler, sync.reload())
        sync.apply(scheduler, sync.reload())  # warned once per row version
    assert set(scheduler.tasks) >= {"good"}
    assert "bad" not in scheduler.tasks
    warnings = [r.getMessage() for r in caplog.records if "'bad'" in r.getMessage()]
    assert len(warnings) == 1
    assert "unknown argument 'whom'" in warnings[0]


@pytest.mark.django_db
def test_a_kwargs_edit_changes_the_call_in_place() -> None:
    PeriodicTask.objects.all().delete()
    row = PeriodicTask.objects.create(
        name="g", function=GREET, interval_seconds=60, kwargs={"who": "ann"}
    )
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    before = scheduler.tasks["g"]
    PeriodicTask.objects.filter(pk=row.pk).update(kwargs={"who": "cy"})
    sync.apply(scheduler, sync.poll())
    assert scheduler.tasks["g"] is before  # the same task: its run state and no-overlap stay
    tasks.greetings.clear()
    scheduler.tasks["g"].func()
    assert tasks.greetings == [("cy", 1)]


async def test_a_function_that_declares_scheduled_at_gets_the_slot() -> None:
    row = Row(1, "slot", SLOT, 3600, True, offset_seconds=0, kwargs={})
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, Changes(rows={1: row}, full=True))
    tasks.slots.clear()
    requested = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    started = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0)
    try:
        scheduler.run_now("slot", scheduled_at=requested)
        await wait_until_async(lambda: tasks.slots, "the run")
    finally:
        scheduler.stop()
        await started
    assert tasks.slots == [requested]


@pytest.mark.django_db
def test_a_process_row_passes_its_timeout_and_a_worker_row_does_not() -> None:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="p", function=SYNC, interval_seconds=60, timeout_seconds=5)
    PeriodicTask.objects.create(
        name="w", function=SYNC, interval_seconds=60, timeout_seconds=5, run_on="worker"
    )
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, sync.reload())
    assert scheduler.tasks["p"].timeout_seconds == 5
    assert scheduler.tasks["w"].timeout_seconds is None  # the engine enforces it there


async def test_a_big_apply_lets_the_loop_run_between_slices() -> None:
    rows = {n: Row(n, f"t{n}", SYNC, 3600, True, kwargs={}) for n in range(1, 2001)}
    sync, scheduler = TaskSync(), Scheduler()
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.ensure_future(count_turns())
    await sync.apply_in_slices(scheduler, Changes(rows=rows, full=True), slice_seconds=0)
    assert len(scheduler.tasks) == 2000
    assert turns >= 2000 // STEP_ROWS  # the loop ran between every few rows
    turns = 0
    await sync.apply_in_slices(scheduler, Changes(rows={}, full=True), slice_seconds=0)
    counter.cancel()
    assert scheduler.tasks == {}
    assert turns >= 2000 // STEP_ROWS  # removing them too


def test_a_full_reload_leaves_unchanged_rows_alone() -> None:
    rows = {n: Row(n, f"t{n}", SYNC, 3600, True, kwargs={}) for n in range(1, 4)}
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, Changes(rows=rows, full=True))
    changed = {**rows, 2: rows[2]._replace(interval_seconds=60)}
    with mock.patch("autosched.runner.sync.registry.get", wraps=registry.get) as looked_up:
        sync.apply(scheduler, Changes(rows=changed, full=True))
    assert looked_up.call_args_list == [mock.call(SYNC)]  # only the changed row is looked at
    assert scheduler.tasks["t2"].interval_seconds == 60


def test_the_sync_counts_the_rows_that_changed_a_task() -> None:
    rows = {n: Row(n, f"t{n}", SYNC, 3600, True, kwargs={}) for n in range(1, 4)}
    sync, scheduler = TaskSync(), Scheduler()
    sync.apply(scheduler, Changes(rows=rows, full=True))
    assert sync.changes_applied == 3
    sync.apply(scheduler, Changes(rows=rows))  # read again as they were: nothing changes
    assert sync.changes_applied == 3
    sync.apply(scheduler, Changes(rows={1: rows[1]._replace(enabled=False)}))
    assert sync.changes_applied == 4
    sync.apply(scheduler, Changes(deleted=frozenset({2})))
    assert sync.changes_applied == 5


def test_the_sync_names_the_tasks_that_run_on_a_worker(
    sync: TaskSync, scheduler: Scheduler
) -> None:
    PeriodicTask.objects.all().delete()
    make_task("here")
    remote = make_task("there", run_on="worker")
    sync.apply(scheduler, sync.reload())
    assert sync.worker_names() == {"there": remote.pk}  # its reports go by the pk
    PeriodicTask.objects.filter(pk=remote.pk).update(run_on="process")
    sync.apply(scheduler, sync.reload())
    assert sync.worker_names() == {}


@pytest.mark.django_db
def test_a_row_with_an_unknown_zone_is_skipped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The database cannot know zone names: an ORM update (no full_clean) may store a typo.
    PeriodicTask.objects.all().delete()
    make_task("typo", interval_seconds=86400)
    make_task("good", interval_seconds=86400, offset_seconds=32400)
    PeriodicTask.objects.filter(name="typo").update(timezone="Europe/Madird")
    PeriodicTask.objects.filter(name="good").update(timezone="Europe/Madrid")
    sync, scheduler = TaskSync(), Scheduler()
    with caplog.at_level(logging.WARNING, logger="autosched"):
        sync.apply(scheduler, sync.reload())
        sync.apply(scheduler, sync.reload())  # warned once per row version
    assert "typo" not in scheduler.tasks
    assert scheduler.tasks["good"].timezone == "Europe/Madrid"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Skipping periodic task 'typo': unknown time zone 'Europe/Madird': "
        "give an IANA name such as 'Europe/Madrid'"
    ]


def test_a_sub_day_row_with_a_zone_is_skipped_with_one_warning(
    sync: TaskSync, scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    # Only a database without the constraint (or a row built in code) could hold one.
    row = Row(1, "hourly", SYNC, 3600, True, kwargs={}, timezone="Europe/Madrid")
    with caplog.at_level(logging.WARNING, logger="autosched"):
        sync.apply(scheduler, Changes(rows={1: row}, full=True))
        sync.apply(scheduler, Changes(rows={1: row}, full=True))
    assert "hourly" not in scheduler.tasks
    assert [r.getMessage() for r in caplog.records] == [
        "Skipping periodic task 'hourly': a time zone (Europe/Madrid) needs an interval of "
        "whole days, not 3600 seconds"
    ]


@pytest.mark.django_db
def test_a_zone_edit_retimes_the_task_in_place(sync: TaskSync, scheduler: Scheduler) -> None:
    make_task("nightly", interval_seconds=86400, offset_seconds=9000)
    first_sync(sync, scheduler)
    assert scheduler.tasks["nightly"].timezone is None
    PeriodicTask.objects.filter(name="nightly").update(timezone="Europe/Madrid")
    resync(sync, scheduler)
    assert scheduler.tasks["nightly"].timezone == "Europe/Madrid"
    PeriodicTask.objects.filter(name="nightly").update(timezone="")
    resync(sync, scheduler)
    assert scheduler.tasks["nightly"].timezone is None


@needs_tasks
def test_a_worker_rows_runs_are_reported_by_its_pk_across_a_rename(
    sync: TaskSync, scheduler: Scheduler, settings: Any
) -> None:
    from django.core.cache import cache

    from autosched.runner.publisher import StatusPublisher
    from autosched.status import read_status

    settings.TASKS = IMMEDIATE  # the run happens at the enqueue, here
    cache.clear()
    PeriodicTask.objects.all().delete()
    old = make_task("nightly", run_on="worker", timeout_seconds=30)
    sync.apply(scheduler, sync.reload())
    asyncio.run(scheduler.run_task(scheduler.tasks["nightly"]))
    # Renamed, then a new row takes the old name: the report stays with the first row.
    PeriodicTask.objects.filter(pk=old.pk).update(name="nightly-old")
    make_task("nightly", run_on="worker")
    sync.apply(scheduler, sync.reload())
    StatusPublisher(scheduler, worker_rows=sync.worker_names).publish()
    tasks = read_status()["tasks"]
    assert (tasks["nightly-old"]["row_id"], tasks["nightly-old"]["last_outcome"]) == (old.pk, "ok")
    assert tasks["nightly-old"]["run_count"] == 1
    assert (tasks["nightly"]["last_outcome"], tasks["nightly"]["run_count"]) == (None, 0)
    cache.clear()
