"""Settings of the processes the real-process tests start, and of bench/scale.py's.

Like the test run, they use SQLite, or PostgreSQL when AUTOSCHED_TEST_DB=postgres; the file
path or database name comes from AUTOSCHED_PROCESS_DB and PostgreSQL's port from
AUTOSCHED_PROCESS_PGPORT (a private server for the restart test). AUTOSCHED_PROCESS_GRACE_PERIOD
and AUTOSCHED_PROCESS_STATUS_TTL set the two settings the tests vary.

Worker rows are enqueued to the ``default`` Tasks backend that AUTOSCHED_PROCESS_TASKS names:
``db`` (django-tasks-db, the default), ``rq`` (django-tasks-rq on Redis) or ``celery``
(django-tasks-fennel, RabbitMQ as the broker, Redis for results). Its one queue is named by
AUTOSCHED_PROCESS_QUEUE, so that tests sharing a Redis or a RabbitMQ never see each other's
jobs; Redis is AUTOSCHED_PROCESS_REDIS_URL, RabbitMQ AUTOSCHED_PROCESS_AMQP_URL.
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

ENGINE = os.environ.get("AUTOSCHED_PROCESS_TASKS", "db")
QUEUE = os.environ.get("AUTOSCHED_PROCESS_QUEUE", "default")
REDIS_URL = os.environ.get("AUTOSCHED_PROCESS_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("AUTOSCHED_PROCESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
BACKENDS = {
    "db": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "celery": "django_tasks_fennel.CeleryBackend",
}
TASKS: dict[str, dict[str, object]] = {"default": {"BACKEND": BACKENDS[ENGINE]}}
if ENGINE != "db":
    TASKS["default"]["QUEUES"] = [QUEUE]
if ENGINE == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {QUEUE: {"URL": REDIS_URL}}
elif ENGINE == "celery":
    INSTALLED_APPS += ["django_tasks_fennel"]
    CELERY_BROKER_URL = AMQP_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_RESULT_EXTENDED = True
    CELERY_RESULT_EXPIRES = 120  # the tests leave no results behind for long
AUTOSCHED_GRACE_PERIOD = float(os.environ.get("AUTOSCHED_PROCESS_GRACE_PERIOD", "10"))
AUTOSCHED_STATUS_TTL = float(os.environ.get("AUTOSCHED_PROCESS_STATUS_TTL", "5"))
AUTOSCHED_MISSED_SLOT_GRACE = float(os.environ.get("AUTOSCHED_PROCESS_MISSED_SLOT_GRACE", "0"))

# AUTOSCHED_PROCESS_LOG_BUFFER names a file that the "autosched" logger writes to through a
# MemoryHandler, which holds the records until it is full or flushed: what an exit loses.
LOG_BUFFER = os.environ.get("AUTOSCHED_PROCESS_LOG_BUFFER")
if LOG_BUFFER:
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": LOG_BUFFER},
            "buffer": {
                "class": "logging.handlers.MemoryHandler",
                "capacity": 10_000,
                "flushLevel": 50,  # CRITICAL (a name is taken from Python 3.12 only)
                "target": "file",
            },
        },
        "loggers": {"autosched": {"handlers": ["buffer"], "level": "INFO"}},
    }
