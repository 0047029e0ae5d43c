"""Rows for registered defaults: created at migrate and at start, never updated or deleted."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db.migrations.state import ProjectState
from django.test import override_settings

from autosched.defaults import create_default_tasks, default_names, sync_defaults
from autosched.models import PeriodicTask
from autosched.registry import Registry

pytestmark = pytest.mark.django_db


def job() -> None:
    pass


def greet(who: str) -> None:
    pass


def test_migrate_created_rows_for_registered_defaults_only() -> None:
    rows = PeriodicTask.objects.values_list("name", "function", "interval_seconds", "enabled")
    assert sorted(rows) == [
        ("testapp.async_heartbeat", "tests.testapp.tasks.async_heartbeat", 60, False),
        ("testapp.heartbeat", "tests.testapp.tasks.heartbeat", 300, True),
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


def test_a_default_whose_name_another_row_took_is_named_by_its_key() -> None:
    PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").update(
        function="tests.testapp.tasks.no_default"
    )
    [task] = sync_defaults()
    assert (task.name, task.function) == ("tests.testapp.tasks.heartbeat", task.function)


def test_sync_defaults_skips_a_default_whose_names_other_rows_took(
    caplog: pytest.LogCaptureFixture,
) -> None:
    PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").update(
        function="tests.testapp.tasks.no_default"
    )
    PeriodicTask.objects.create(
        name="Tests.Testapp.Tasks.Heartbeat",
        function="tests.testapp.tasks.greet",
        interval_seconds=5,
    )
    assert sync_defaults() == []
    assert (
        "another task is named testapp.heartbeat and another tests.testapp.tasks.heartbeat"
        in caplog.text
    )
    assert not PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").exists()


def test_rows_already_there_keep_their_names() -> None:
    # Rows created before default names were readable are the operator's data: kept as is.
    PeriodicTask.objects.filter(function="tests.testapp.tasks.heartbeat").update(
        name="tests.testapp.tasks.heartbeat"
    )
    assert sync_defaults() == []
    assert PeriodicTask.objects.filter(name="tests.testapp.tasks.heartbeat").exists()


def in_module(module: str, name: str = "cleanup") -> Any:
    def job() -> None:
        pass

    job.__module__, job.__name__, job.__qualname__ = module, name, name
    return job


def test_a_default_row_is_named_after_the_function_and_its_app() -> None:
    reg = Registry()
    reg.register(interval_seconds=60)(in_module("tests.testapp.tasks"))
    reg.register(interval_seconds=60)(in_module("elsewhere.module"))
    assert default_names(reg) == {
        "tests.testapp.tasks.cleanup": "testapp.cleanup",
        "elsewhere.module.cleanup": "elsewhere.module.cleanup",  # in no app: its key
    }


def test_register_name_names_the_default_row() -> None:
    reg = Registry()
    reg.register(interval_seconds=60, name="Nightly cleanup")(in_module("tests.testapp.tasks"))
    [task] = sync_defaults(source=reg)
    assert (task.name, task.function) == ("Nightly cleanup", "tests.testapp.tasks.cleanup")


def test_clashing_default_names_keep_the_module_then_the_key() -> None:
    reg = Registry()
    reg.register(interval_seconds=60)(in_module("tests.testapp.tasks"))
    reg.register(interval_seconds=60)(in_module("tests.testapp.jobs"))
    reg.register(interval_seconds=60)(in_module("tests.testapp.reports", "Report"))
    reg.register(interval_seconds=60, name="testapp.report")(in_module("tests.testapp.other"))
    reg.register(interval_seconds=60)(in_module("tests.testapp.x", "sync"))
    reg.register(interval_seconds=60)(in_module("tests.testapp.X", "sync"))
    assert default_names(reg) == {
        "tests.testapp.tasks.cleanup": "testapp.cleanup",  # a tasks module says nothing more
        "tests.testapp.jobs.cleanup": "testapp.jobs.cleanup",
        "tests.testapp.reports.Report": "testapp.reports.Report",  # the case does not tell
        "tests.testapp.other.cleanup": "testapp.report",
        "tests.testapp.x.sync": "tests.testapp.x.sync",
        "tests.testapp.X.sync": "tests.testapp.X.sync",
    }


def test_the_default_row_gets_the_default_kwargs() -> None:
    reg = Registry()
    reg.register(interval_seconds=60, kwargs={"who": "ann"})(greet)
    [task] = sync_defaults(source=reg)
    assert task.kwargs == {"who": "ann"}


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


def test_the_default_row_gets_the_registered_time_zone() -> None:
    reg = Registry()
    reg.register(interval_seconds=86400, timezone="Europe/Madrid")(job)
    [task] = sync_defaults(source=reg)
    assert task.timezone == "Europe/Madrid"
    task.full_clean(exclude=["function"])  # the row it made is one the model accepts
