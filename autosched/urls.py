"""autosched's URLs: ``path("autosched/", include("autosched.urls"))`` in the project's."""

from __future__ import annotations

from django.urls import path

from autosched.health import health

app_name = "autosched"
urlpatterns = [path("health/", health, name="health")]
