"""Settings of the processes the real-process tests start, and of bench/scale.py's.

Like the test run, they use SQLite, or PostgreSQL when AUTOSCHED_TEST_DB=postgres; the file
path or database name comes from AUTOSCHED_PROCESS_DB and PostgreSQL's port from
AUTOSCHED_PROCESS_PGPORT (a private server for the restart test). Runs are enqueued to
django-tasks-db, for the worker test. AUTOSCHED_PROCESS_GRACE_PERIOD and
AUTOSCHED_PROCESS_STATUS_TTL set the two settings the tests vary.
"""

from __future__ import annotations

import os

import django

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, ON_POSTGRES

# django-tasks-db's app label is "django_tasks_database"; on Django 5.2 it runs on the
# django-tasks backport, which is an app of its own there.
BACKPORT = ["django_tasks"] if django.VERSION < (6,) else []
INSTALLED_APPS = [*INSTALLED_APPS, *BACKPORT, "django_tasks_db", "tests.processes"]

NAME = os.environ.get(
    "AUTOSCHED_PROCESS_DB", "autosched_processes" if ON_POSTGRES else "autosched-processes.sqlite3"
)
if ON_POSTGRES:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": NAME,
            "HOST": "127.0.0.1",
            "PORT": os.environ.get("AUTOSCHED_PROCESS_PGPORT", "5432"),
            "USER": "postgres",
            # Fail fast while the server restarts: the scheduler logs it and retries.
            "OPTIONS": {"connect_timeout": 3},
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": NAME}}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
AUTOSCHED_GRACE_PERIOD = float(os.environ.get("AUTOSCHED_PROCESS_GRACE_PERIOD", "10"))
AUTOSCHED_STATUS_TTL = float(os.environ.get("AUTOSCHED_PROCESS_STATUS_TTL", "5"))
