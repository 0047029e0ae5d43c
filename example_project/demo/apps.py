from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo app: a few registered tasks and the ``demo`` command."""

    name = "example_project.demo"
    label = "demo"
    verbose_name = "Demo"
    default_auto_field = "django.db.models.BigAutoField"
