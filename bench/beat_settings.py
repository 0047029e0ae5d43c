"""Django settings for bench/sync.py's django-celery-beat process (its own database)."""

from __future__ import annotations

from sync_settings import DATABASES, DEFAULT_AUTO_FIELD, SECRET_KEY, USE_TZ  # noqa: F401

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_celery_beat"]
TIME_ZONE = "UTC"
