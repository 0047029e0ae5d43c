"""Rows for registered defaults: created at migrate and at start, never updated or deleted."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.migrations.state import ProjectState
from django.test import override_settings

from autosched.defaults import create_default_tasks, sync_defaults
from autosched.models import PeriodicTask
from autosched.registry import Registry

pytestmark = pytest.mark.django_db


def job() -> None:
    pass


def test_migrate_created_rows_for_registered_defaults_only() -> None:
    rows = PeriodicTask.objects.values_list("name", "function", "interval_seconds", "enabled")
    assert sorted(rows) == [
        ("tests.testapp.tasks.async_heartbeat", "tests.testapp.tasks.async_heartbeat", 60, False),
        ("tests.testapp.tasks.heartbeat", "tests.testapp.tasks.heartbeat", 300, True),
    ]


def test_sync_defaults_creates_only_missing_rows() -> None:
    PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").delete()
    created = sync_defaults()
    assert [task.function for task in created] == ["tests.testapp.tasks.heartbeat"]
    assert sync_defaults() == []


def test_sync_defaults_never_overwrites_an_operator_change() -> None:
    PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").update(
        name="renamed", interval_seconds=7, enabled=False
    )
    assert sync_defaults() == []
    task = PeriodicTask.objects.get(function="tests.testapp.tasks.heartbeat")
    assert (task.name, task.interval_seconds, task.enabled) == ("renamed", 7, False)


def test_sync_defaults_skips_a_default_whose_name_another_row_took(
    caplog: pytest.LogCaptureFixture,
) -> None:
    PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").update(
        function="tests.testapp.tasks.no_default"
    )
    assert sync_defaults() == []
    assert "another task is named tests.testapp.tasks.heartbeat" in caplog.text
    assert not PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").exists()


def test_sync_defaults_of_a_registry_without_defaults_does_nothing() -> None:
    reg = Registry()
    reg.register(job)
    assert sync_defaults(source=reg) == []


class NoMigrateRouter:
    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool:
        return False


def test_defaults_are_created_from_the_migration_state() -> None:
    PeriodicTask.objects.all().delete()
    config = apps.get_app_config("autosched")
    create_default_tasks(config, using="default", apps=apps)
    assert PeriodicTask.objects.count() == 2


def test_nothing_is_created_before_the_table_exists() -> None:
    PeriodicTask.objects.all().delete()
    config = apps.get_app_config("autosched")
    create_default_tasks(config, using="default", apps=ProjectState().apps)
    assert not PeriodicTask.objects.exists()


@override_settings(DATABASE_ROUTERS=[NoMigrateRouter()])
def test_nothing_is_created_where_the_router_forbids_it() -> None:
    PeriodicTask.objects.all().delete()
    config = apps.get_app_config("autosched")
    create_default_tasks(config, using="default", apps=apps)
    assert not PeriodicTask.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_defaults_are_recreated_after_a_flush() -> None:
    # flush (run between transactional tests) sends post_migrate without "apps".
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    assert PeriodicTask.objects.count() == 2
