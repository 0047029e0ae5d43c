"""Settings for the processes of the fault tests and bench/scale.py: PostgreSQL, Django Tasks.

AUTOSCHED_SCALE_DB names the database; AUTOSCHED_SCALE_PGPORT its server's port (a private
cluster for the restart test); AUTOSCHED_SCALE_GRACE the grace period.
"""

from __future__ import annotations

import os

import django

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

# django-tasks-db's app label is "django_tasks_database"; on Django 5.2 it runs on the
# django-tasks backport, which is an app of its own there.
BACKPORT = ["django_tasks"] if django.VERSION < (6,) else []
INSTALLED_APPS = [*INSTALLED_APPS, *BACKPORT, "django_tasks_db", "tests.scaleapp"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("AUTOSCHED_SCALE_DB", "autosched_scale"),
        "HOST": "127.0.0.1",
        "PORT": os.environ.get("AUTOSCHED_SCALE_PGPORT", "5432"),
        "USER": "postgres",
        "OPTIONS": {"connect_timeout": 3},
    }
}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
AUTOSCHED_GRACE_PERIOD = float(os.environ.get("AUTOSCHED_SCALE_GRACE", "10"))
