"""Django Tasks in the tests: the immediate backend, and a skip where Django Tasks is missing."""

from __future__ import annotations

import pytest

from autosched.worker import tasks_module

try:
    TASKS_MODULE = tasks_module().__name__
except ImportError:  # Django 5.2 without the django-tasks backport
    TASKS_MODULE = ""
#: A TASKS setting whose default backend runs each enqueued task at once, in process.
IMMEDIATE = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}
needs_tasks = pytest.mark.skipif(
    not TASKS_MODULE,
    reason="needs django.tasks (Django 6) or the backport: pip install 'autosched[worker]'",
)
