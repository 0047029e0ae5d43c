"""Django settings for bench/scale.py's autosched processes: PostgreSQL, django-tasks-db and RQ.

The database comes from BENCH_DB_NAME, the Redis database number of RQ from BENCH_RQ_DB.
"""

from __future__ import annotations

import os

import redis
from sync_settings import DEFAULT_AUTO_FIELD, SECRET_KEY, SILENCED_SYSTEM_CHECKS, USE_TZ  # noqa: F401

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "autosched",
    "benchapp",
    "django_tasks_db",
    "django_rq",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_DB_NAME"],
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "USER": "postgres",
    }
}
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]},
}
_RQ_DB = int(os.environ.get("BENCH_RQ_DB", "11"))
# django-rq makes a new Redis client, so a new connection (and its handshake), per enqueue;
# one pool shared by the clients keeps the connections: 10x faster enqueues.
RQ_QUEUES = {
    "default": {
        "HOST": "127.0.0.1",
        "PORT": 6379,
        "DB": _RQ_DB,
        "REDIS_CLIENT_KWARGS": {
            "connection_pool": redis.BlockingConnectionPool(
                host="127.0.0.1", port=6379, db=_RQ_DB, max_connections=16
            )
        },
    }
}
TIME_ZONE = "UTC"
