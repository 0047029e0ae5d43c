"""Django settings for bench/restart.py's autosched processes; the database comes from the env."""

from __future__ import annotations

import os

from sync_settings import (  # noqa: F401
    DATABASES,
    DEFAULT_AUTO_FIELD,
    SECRET_KEY,
    SILENCED_SYSTEM_CHECKS,
    USE_TZ,
)

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "autosched",
    "restart_tasks",  # a module, not a package: the app and its registered function in one
]
# bench/restart.py --grace: the late run of a missed slot after a crash (0, the default: none).
AUTOSCHED_MISSED_SLOT_GRACE = float(os.environ.get("BENCH_MISSED_SLOT_GRACE", "0"))
