"""The app config: the default one, and what its ready() connects."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.models.signals import post_migrate

from autosched.apps import AutoschedConfig

pytestmark = pytest.mark.django_db


def test_the_app_config_is_the_default() -> None:
    config = apps.get_app_config("autosched")
    assert isinstance(config, AutoschedConfig)
    assert str(config.verbose_name) == "Periodic tasks"


def test_post_migrate_is_connected() -> None:
    # tests/test_defaults.py shows the rows it creates during the test database's migrate.
    assert post_migrate.has_listeners(sender=apps.get_app_config("autosched"))
