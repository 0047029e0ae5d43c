"""Every write to PeriodicTask is logged as a numbered TaskChange by the 0002 triggers."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from autosched.models import PeriodicTask, ScheduleRevision, TaskChange
from tests.waiting import wait_until

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
    def write_then_fail() -> None:
        with transaction.atomic():
            make_task()
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        write_then_fail()
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
        # Without the triggers a write no longer needs the dropped tables. (The model as of
        # 0001: the current one has columns that later migrations add.)
        state = executor.loader.project_state(("autosched", "0001_initial"))
        old_model = state.apps.get_model("autosched", "PeriodicTask")
        old_model.objects.create(name="job", function=FUNCTION, interval_seconds=60)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    start = current_revision()
    task = make_task("again")
    assert log_since(start) == [(start + 1, task.id)]


def test_recreated_counter_starts_above_the_logged_changes(start: int) -> None:
    # A flush may delete the counter row but leave change rows (or delete them first).
    make_task("a")
    ScheduleRevision.objects.all().delete()
    task = make_task("b")
    assert log_since(start + 1) == [(start + 2, task.id)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_a_later_writer_waits_and_gets_the_later_revision() -> None:
    # Why "changes above N" is complete: whoever takes a revision holds the counter's row lock
    # until commit, so no one can commit N+1 while N is still uncommitted.
    first_task, second_task = make_task("a"), make_task("b")
    start = current_revision()
    first_wrote, release_first = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic():
            PeriodicTask.objects.filter(id=first_task.id).update(interval_seconds=5)
            first_wrote.set()
            release_first.wait(10)
        connections.close_all()

    def second() -> None:
        first_wrote.wait(10)
        PeriodicTask.objects.filter(id=second_task.id).update(interval_seconds=6)
        connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    try:
        wait_until(blocked_on_a_lock, "the second writer to wait for the lock", timeout=10)
        assert log_since(start) == []
    finally:
        release_first.set()
        for thread in threads:
            thread.join(10)
    assert log_since(start) == [(start + 1, first_task.id), (start + 2, second_task.id)]


def blocked_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        (count,) = cursor.fetchone()
    return bool(count)
