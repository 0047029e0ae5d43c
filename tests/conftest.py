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
