"""Every write to PeriodicTask is logged as a numbered TaskChange by the 0002 triggers."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from autosched.models import PeriodicTask, ScheduleRevision, TaskChange

FUNCTION = "tests.testapp.tasks.no_default"


def log_since(revision: int) -> list[tuple[int, int]]:
    """Return (revision, task_id) of the changes above ``revision``, in order."""
    changes = TaskChange.objects.filter(revision__gt=revision).order_by("revision")
    return list(changes.values_list("revision", "task_id"))


def current_revision() -> int:
    return ScheduleRevision.objects.get(id=1).revision


def make_task(name: str = "job", **fields: object) -> PeriodicTask:
    values: dict[str, object] = {"function": FUNCTION, "interval_seconds": 60, **fields}
    return PeriodicTask.objects.create(name=name, **values)


@pytest.fixture
def start(db: None) -> int:
    return current_revision()


def test_create_is_logged(start: int) -> None:
    task = make_task()
    assert log_since(start) == [(start + 1, task.id)]
    assert current_revision() == start + 1


def test_save_is_logged(start: int) -> None:
    task = make_task()
    task.interval_seconds = 5
    task.save()
    assert log_since(start) == [(start + 1, task.id), (start + 2, task.id)]


def test_delete_logs_the_deleted_id(start: int) -> None:
    task = make_task()
    task_id = task.id
    task.delete()
    assert log_since(start + 1) == [(start + 2, task_id)]


def test_bulk_create_logs_each_row(start: int) -> None:
    tasks = PeriodicTask.objects.bulk_create(
        [PeriodicTask(name=f"job{i}", function=FUNCTION, interval_seconds=60) for i in range(3)]
    )
    ids = sorted(PeriodicTask.objects.filter(name__startswith="job").values_list("id", flat=True))
    assert len(tasks) == 3
    logged = log_since(start)
    assert [revision for revision, _ in logged] == [start + 1, start + 2, start + 3]
    assert sorted(task_id for _, task_id in logged) == ids


def test_queryset_update_logs_each_matched_row(start: int) -> None:
    first, second = make_task("a"), make_task("b")
    PeriodicTask.objects.filter(name__in=["a", "b"]).update(enabled=False)
    logged = log_since(start + 2)
    assert [revision for revision, _ in logged] == [start + 3, start + 4]
    assert sorted(task_id for _, task_id in logged) == sorted([first.id, second.id])


def test_queryset_delete_logs_each_row(start: int) -> None:
    first, second = make_task("a"), make_task("b")
    PeriodicTask.objects.filter(name__in=["a", "b"]).delete()
    assert sorted(task_id for _, task_id in log_since(start + 2)) == sorted([first.id, second.id])


def test_raw_sql_is_logged(start: int) -> None:
    task = make_task()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE autosched_periodictask SET interval_seconds = 7 WHERE id = %s", [task.id]
        )
    assert log_since(start + 1) == [(start + 2, task.id)]


def test_rolled_back_write_leaves_no_change(start: int) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        make_task()
        raise RuntimeError("roll back")
    assert log_since(start) == []
    assert current_revision() == start


def test_change_time_is_set_by_the_database(start: int) -> None:
    make_task()
    change = TaskChange.objects.get(revision=start + 1)
    assert change.changed_at is not None


def test_logging_resumes_after_the_counter_row_is_deleted(start: int) -> None:
    # A test-database flush deletes the counter row; the triggers recreate it.
    ScheduleRevision.objects.all().delete()
    TaskChange.objects.all().delete()
    task = make_task()
    assert log_since(0) == [(1, task.id)]


@pytest.mark.django_db(transaction=True)
def test_migrating_back_drops_the_triggers() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("autosched", "0001_initial")])
    try:
        tables = connection.introspection.table_names()
        assert "autosched_taskchange" not in tables
        # Without the triggers a write no longer needs the dropped tables.
        make_task()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    start = current_revision()
    task = make_task("again")
    assert log_since(start) == [(start + 1, task.id)]
