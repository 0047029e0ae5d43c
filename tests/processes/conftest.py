"""Fixtures of the real-process tests: a migrated database per test, and processes on it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from tests.processes.helpers import (
    ON_POSTGRES,
    CommandProcess,
    command,
    drop,
    migrate,
    opened,
    process_env,
    psql,
    unique,
)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one database per test session; each test starts from a copy of it."""
    if ON_POSTGRES:
        name = unique("autosched_processes_template")
    else:
        name = str(tmp_path_factory.mktemp("template") / "db.sqlite3")
    migrate(name)
    yield name
    drop(name)


@pytest.fixture
def process_database(
    template_database: str, tmp_path: Path, django_db_blocker: Any
) -> Iterator[str]:
    """Copy the template into a database of this test's own; open it here as ``ALIAS``."""
    if ON_POSTGRES:
        name = unique("autosched_processes")
        psql(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    else:
        name = str(tmp_path / "db.sqlite3")
        shutil.copyfile(template_database, name)
    try:
        with django_db_blocker.unblock(), opened(name):
            yield name
    finally:
        drop(name)


@pytest.fixture(autouse=True)
def clean_status_cache() -> None:
    """Start each test with an empty status cache, which all the processes share.

    Every test's database numbers its rows from 1, and worker reports go by the row's pk: a
    report of another test's row would otherwise be read as this one's.
    """
    cache.clear()


@pytest.fixture
def runs_log(tmp_path: Path) -> Path:
    """The file the processes' functions record their runs to."""
    log = tmp_path / "runs.log"
    log.touch()
    return log


@pytest.fixture
def procs() -> Iterator[list[CommandProcess]]:
    """Collect started processes; kill whatever is left at the end."""
    started: list[CommandProcess] = []
    yield started
    for proc in started:
        proc.close()


@pytest.fixture
def start(
    process_database: str, runs_log: Path, procs: list[CommandProcess]
) -> Callable[..., CommandProcess]:
    """Start ``django-admin ARGS`` on this test's database, with ``ENV`` added to its own."""

    def start(*args: str, **env: str) -> CommandProcess:
        proc = CommandProcess(command(*args), process_env(process_database, runs_log, **env))
        procs.append(proc)
        return proc

    return start


@pytest.fixture
def start_scheduler(start: Callable[..., CommandProcess]) -> Callable[..., CommandProcess]:
    """Start ``runscheduler`` syncing every 0.2 s; return once it runs."""

    def start_scheduler(*args: str, **env: str) -> CommandProcess:
        process = start("runscheduler", "--sync-interval", "0.2", *args, **env)
        process.wait_for_output("Press Ctrl-C to stop")
        return process

    return start_scheduler
