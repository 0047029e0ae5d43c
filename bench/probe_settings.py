"""Django settings for bench/probe.py: SQLite and a file cache, both named by the environment."""

from __future__ import annotations

import os

from sync_settings import (  # noqa: F401
    DATABASES,
    DEFAULT_AUTO_FIELD,
    INSTALLED_APPS,
    SECRET_KEY,
    USE_TZ,
)

# A cache every process shares, as the liveness probe needs.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ["BENCH_CACHE_DIR"],
    }
}
