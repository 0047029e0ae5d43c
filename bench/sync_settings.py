"""Django settings for bench/sync.py's autosched processes; the database comes from the env."""

from __future__ import annotations

import os

SECRET_KEY = "autosched-bench-not-secret"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "autosched", "benchapp"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ["BENCH_DB_VENDOR"] == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["BENCH_DB_NAME"],
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
        }
    }
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BENCH_DB_NAME"]}
    }

# The benchmark measures the sync alone; nobody reads the live status, so a per-process
# cache is fine here (and says so instead of warning).
SILENCED_SYSTEM_CHECKS = ["autosched.W002"]
