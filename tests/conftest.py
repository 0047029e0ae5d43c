"""Seen by every test, the core's included: so it imports nothing from Django.

Fixtures that need Django live in the conftest of the folder whose tests use them.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # pyproject.toml sets pytest-django's DJANGO_SETTINGS_MODULE. Run without pytest-django
    # (`-p no:django`, as the core's tests can be), pytest would warn that the option is
    # unknown, and warnings are errors here: declare it then, so that none is hidden.
    if not pluginmanager.has_plugin("django"):
        parser.addini("DJANGO_SETTINGS_MODULE", "read by pytest-django, which is off")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test of SQLite's own behaviour has nothing to run on PostgreSQL: it is deselected there,
    # not skipped, so that the PostgreSQL run keeps its rule that no test is skipped.
    import os

    if os.environ.get("AUTOSCHED_TEST_DB") != "postgres":
        return
    deselected = [item for item in items if item.get_closest_marker("sqlite_only")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("sqlite_only")]
