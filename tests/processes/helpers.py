"""Real processes for the tests and bench/scale.py: start a command, watch its output, stop it.

A process runs ``python -m django COMMAND --settings=tests.processes.settings`` on a database of
its own (a SQLite file, or a PostgreSQL database when AUTOSCHED_TEST_DB=postgres); the test
process opens that database too, under the connection alias ``ALIAS``, to write rows. The
functions of ``tests.processes.tasks`` record their runs to a log that ``read_runs`` reads.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from tests.waiting import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = os.environ.get("AUTOSCHED_TEST_DB") == "postgres"
ALIAS = "processes"
SETTINGS = "tests.processes.settings"
ACTIVE = "this process is the active scheduler"

#: For the long real-process tests: they run in CI's PostgreSQL runs, keeping the plain
#: SQLite run (the README's test command) under a minute.
long_test = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="a long real-process test (about 50 s): it runs with AUTOSCHED_TEST_DB=postgres",
)
#: For the fault tests: they need PostgreSQL's locks, and a server to restart.
postgres_only = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="real-process fault tests need PostgreSQL: run with AUTOSCHED_TEST_DB=postgres",
)


def key(name: str) -> str:
    """Return the registry key of the function ``name`` of ``tests.processes.tasks``."""
    return f"tests.processes.tasks.{name}"


def command(*args: str) -> list[str]:
    """Return the command line of ``django-admin ARGS`` with the processes' settings."""
    return [sys.executable, "-m", "django", *args, f"--settings={SETTINGS}"]


def process_env(database: str, log: Path, port: int = 5432, **extra: str) -> dict[str, str]:
    """Return the environment of a process on ``database`` that records runs to ``log``."""
    return {
        **os.environ,
        "AUTOSCHED_PROCESS_DB": database,
        "AUTOSCHED_PROCESS_PGPORT": str(port),
        "AUTOSCHED_PROCESS_LOG": str(log),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class CommandProcess:
    """A management command running in a process of its own, its output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        assert self.popen.stdout is not None
        self._reader = threading.Thread(
            target=self.lines.extend, args=(self.popen.stdout,), daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output(self) -> str:
        """Its stdout and stderr so far, as one text."""
        return "".join(self.lines)

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 20.0) -> float:
        """Wait until ``condition`` holds; return the monotonic time it did.

        Fail at once if the process exits first, and after ``timeout`` seconds; either way
        with the end of its output.
        """

        def holds() -> bool:
            if condition():
                return True
            if self.popen.poll() is not None:
                raise AssertionError(f"exited ({self.popen.returncode}) before {what}:\n{self}")
            return False

        try:
            return wait_until(holds, what, timeout)
        except WaitTimeout as timed_out:
            raise WaitTimeout(f"{timed_out}:\n{self}") from None

    def wait_for_output(self, text: str, timeout: float = 20.0) -> float:
        """Wait until the process printed ``text``; return the monotonic time it had."""
        return self.wait_for(lambda: text in self.output, repr(text), timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``signum`` and return the exit status, which must come within ``timeout``."""
        self.popen.send_signal(signum)
        return self.popen.wait(timeout)

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipe."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._reader.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def __str__(self) -> str:
        return f"--- output of pid {self.popen.pid} ---\n{self.output[-6000:]}"


# The log of runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One recorded run: which function, when (monotonic clock), in which process."""

    name: str
    at: float
    pid: int


def read_runs(log: Path) -> list[Run]:
    """Return the runs recorded in ``log``, in time order."""
    if not log.exists():
        return []
    runs = []
    for line in log.read_text(encoding="utf-8").splitlines():
        name, at, pid = line.split()
        runs.append(Run(name, float(at), int(pid)))
    return sorted(runs, key=lambda run: run.at)


def run_times(log: Path, name: str) -> list[float]:
    """Return the start times of the runs named ``name`` in ``log``."""
    return [run.at for run in read_runs(log) if run.name == name]


def too_close(runs: list[Run], interval: float, slack: float = 0.2) -> list[tuple[Run, Run]]:
    """Return the pairs of consecutive runs of one function less than one interval apart."""
    pairs = []
    by_name: dict[str, list[Run]] = {}
    for run in runs:
        by_name.setdefault(run.name, []).append(run)
    for same in by_name.values():
        pairs += [(a, b) for a, b in itertools.pairwise(same) if b.at - a.at < interval - slack]
    return pairs


# Databases ---------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    """Return a database name no other test run uses: they may share the server."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def psql(sql: str, port: int = 5432) -> None:
    """Run one statement as postgres on the server at ``port``, outside a transaction."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5
    ) as conn:
        conn.autocommit = True
        conn.execute(sql)  # type: ignore[arg-type]


def migrate(database: str, port: int = 5432) -> None:
    """Migrate ``database`` (a SQLite file; on PostgreSQL, created first)."""
    if ON_POSTGRES:
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", port)
        psql(f"CREATE DATABASE {database}", port)
    env = process_env(database, Path(os.devnull), port)
    subprocess.run(command("migrate", "--verbosity=0"), cwd=ROOT, env=env, check=True)


def drop(database: str, port: int = 5432) -> None:
    """Drop PostgreSQL ``database``, connections and all (SQLite files go with their folder)."""
    if ON_POSTGRES:
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", port)


@contextlib.contextmanager
def opened(database: str, port: int = 5432) -> Iterator[str]:
    """Open ``database`` in this process as the connection alias ``ALIAS``."""
    if ON_POSTGRES:
        settings = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "USER": "postgres",
        }
    else:
        settings = {"ENGINE": "django.db.backends.sqlite3", "NAME": database}
    configured = connections.configure_settings({DEFAULT_DB_ALIAS: {}, ALIAS: settings})
    connections.settings[ALIAS] = configured[ALIAS]
    try:
        yield ALIAS
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.settings[ALIAS]
