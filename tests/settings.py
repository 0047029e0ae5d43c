"""Settings for the test suite: SQLite, or PostgreSQL when AUTOSCHED_TEST_DB=postgres."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

SECRET_KEY = "autosched-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "autosched",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

ON_POSTGRES = os.environ.get("AUTOSCHED_TEST_DB") == "postgres"


def database(name: str) -> dict[str, Any]:
    """Return the settings of one database: PostgreSQL database ``name``, or SQLite file."""
    if ON_POSTGRES:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


#: A folder of this test run's own (made once, inherited by the processes the tests start):
#: the shared status cache, and the SQLite test database.
_RUN_DIR = os.environ.get("AUTOSCHED_TEST_CACHE") or os.environ.setdefault(
    "AUTOSCHED_TEST_CACHE", tempfile.mkdtemp(prefix="autosched-")
)

if ON_POSTGRES:
    # pytest-django creates and drops the test database "test_autosched". Runs sharing one
    # server at once (two Django versions in CI) need distinct names: AUTOSCHED_TEST_PG_NAME.
    DATABASES = {"default": database(os.environ.get("AUTOSCHED_TEST_PG_NAME", "autosched"))}
else:
    DATABASES = {"default": database(str(Path(tempfile.gettempdir()) / "autosched-tests.sqlite3"))}
    # The test database is a file of this run's own, not SQLite's shared in-memory one: there a
    # thread that finds a table locked fails at once, while on a file it waits (up to 5 s), as
    # the scheduler's threads do in production.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(_RUN_DIR) / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Shared across processes, as autosched.W002 asks: the scheduler processes that tests start
# publish their status here. The directory is made once per test run and inherited by them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": _RUN_DIR,
    }
}
# Fast hashing: the admin tests log users in.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_URL = "static/"
