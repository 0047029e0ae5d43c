from __future__ import annotations

import pytest
from django.apps import apps
from django.db.migrations.state import ProjectState
from django.db.models.signals import post_migrate
from django.test import override_settings

from autosched.apps import AutoschedConfig
from autosched.defaults import create_default_tasks
from autosched.models import PeriodicTask

pytestmark = pytest.mark.django_db


class NoMigrateRouter:
    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool:
        return False


def test_the_app_config_is_the_default() -> None:
    config = apps.get_app_config("autosched")
    assert isinstance(config, AutoschedConfig)
    assert str(config.verbose_name) == "Periodic tasks"


def test_post_migrate_is_connected() -> None:
    # tests/test_registry.py shows the rows it creates during the test database's migrate.
    assert post_migrate.has_listeners(sender=apps.get_app_config("autosched"))


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
