"""The Django app: autodiscovers ``tasks`` modules, registers checks, creates default rows."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class AutoschedConfig(AppConfig):
    """Configure autosched."""

    name = "autosched"
    verbose_name = _("Periodic tasks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Import every app's ``tasks`` module and hook up checks and default rows."""
        # Here, not at the top: both import the models, which are not loaded before ready().
        from autosched.checks import check_settings
        from autosched.defaults import create_default_tasks

        checks.register(check_settings)
        post_migrate.connect(
            create_default_tasks, sender=self, dispatch_uid="autosched.create_default_tasks"
        )
        autodiscover_modules("tasks")
