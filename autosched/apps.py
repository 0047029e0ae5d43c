"""The Django app: autodiscovers ``tasks`` modules, registers checks, creates default rows."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, router
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


def create_default_tasks(
    sender: AppConfig,
    using: str = DEFAULT_DB_ALIAS,
    apps: Apps = global_apps,
    **kwargs: Any,
) -> None:
    """Create the rows for registered defaults after ``migrate`` or ``flush``."""
    from autosched.models import PeriodicTask
    from autosched.registry import sync_defaults

    try:
        # The migration state, not the code, says whether the table exists yet.
        apps.get_model("autosched", "PeriodicTask")
    except LookupError:
        return
    if not router.allow_migrate_model(using, PeriodicTask):
        return
    sync_defaults(using=using)


class AutoschedConfig(AppConfig):
    """Configure autosched."""

    name = "autosched"
    verbose_name = _("Periodic tasks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Import every app's ``tasks`` module and hook up checks and default rows."""
        from autosched import checks as autosched_checks

        checks.register(autosched_checks.check_settings)
        post_migrate.connect(
            create_default_tasks, sender=self, dispatch_uid="autosched.create_default_tasks"
        )
        autodiscover_modules("tasks")
