"""Real processes on PostgreSQL for the fault tests and bench/scale.py.

Each test gets a database of its own, copied from a template migrated once with
``tests.scale_settings``; the test process writes rows to it through an extra connection alias.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = os.environ.get("AUTOSCHED_TEST_DB") == "postgres"
SKIP_REASON = "real-process fault tests need PostgreSQL: run with AUTOSCHED_TEST_DB=postgres"
ALIAS = "scale"


def psql(sql: str, port: int = 5432) -> None:
    """Run one statement as postgres on the server at ``port``, outside a transaction."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5
    ) as conn:
        conn.autocommit = True
        conn.execute(sql)  # type: ignore[arg-type]


def scale_env(database: str, log: Path, port: int = 5432, **extra: str) -> dict[str, str]:
    """Return the environment of a process running with ``tests.scale_settings``."""
    return {
        **os.environ,
        "AUTOSCHED_SCALE_DB": database,
        "AUTOSCHED_SCALE_PGPORT": str(port),
        "AUTOSCHED_SCALE_LOG": str(log),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(*args: str) -> list[str]:
    """Return the command line of ``django-admin ARGS`` with the scale settings."""
    return [sys.executable, "-m", "django", *args, "--settings=tests.scale_settings"]


def migrate(database: str, port: int = 5432) -> None:
    """Create ``database`` and migrate it."""
    psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", port)
    psql(f"CREATE DATABASE {database}", port)
    env = scale_env(database, Path(os.devnull), port)
    subprocess.run(manage("migrate", "--verbosity=0"), cwd=ROOT, env=env, check=True)


@contextlib.contextmanager
def opened(database: str, port: int = 5432) -> Iterator[str]:
    """Open ``database`` in this process as the connection alias ``scale``."""
    settings = {
        **connections.settings[DEFAULT_DB_ALIAS],
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "USER": "postgres",
        "TEST": {},
    }
    configured = connections.configure_settings({DEFAULT_DB_ALIAS: {}, ALIAS: settings})
    connections.settings[ALIAS] = configured[ALIAS]
    try:
        yield ALIAS
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.settings[ALIAS]


class Proc:
    """A running management command, its output collected line by line as it comes."""

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
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> float:
        """Check ``condition`` every 10 ms; return the monotonic time it held; fail at timeout."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.popen.poll() is not None:
                raise AssertionError(f"exited ({self.popen.returncode}) before {what}:\n{self}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self}")
            time.sleep(0.01)
        return time.monotonic()

    def wait_for_output(self, text: str, timeout: float = 20.0) -> float:
        return self.wait_for(lambda: text in self.output, repr(text), timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``signum`` and return the exit status, which must come within ``timeout``."""
        self.popen.send_signal(signum)
        return self.popen.wait(timeout)

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._reader.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def __str__(self) -> str:
        return f"--- output of pid {self.popen.pid} ---\n{self.output[-6000:]}"


@dataclass(frozen=True)
class Run:
    """One recorded run: which function, when (wall clock), in which process."""

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


def too_close(runs: list[Run], interval: float, slack: float = 0.2) -> list[tuple[Run, Run]]:
    """Return the pairs of consecutive runs of one function less than one interval apart."""
    pairs = []
    by_name: dict[str, list[Run]] = {}
    for run in runs:
        by_name.setdefault(run.name, []).append(run)
    for same in by_name.values():
        pairs += [(a, b) for a, b in itertools.pairwise(same) if b.at - a.at < interval - slack]
    return pairs


class Cluster:
    """A throwaway PostgreSQL server of our own, to restart without disturbing anyone."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, base: Path, port: int) -> None:
        self.port = port
        self.data = base / "data"
        self._base = base

    def _as_postgres(self, *args: str, **kwargs: Any) -> None:
        command = [str(self.BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and the server refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)

    def init(self) -> None:
        self._base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(self._base)], check=True)
        self._as_postgres("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data))

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self._base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            "pg_ctl",
            action,
            "-D",
            str(self.data),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "-l",
            str(self._base / "server.log"),
            *extra,
        )


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


# Fixtures (imported by the test modules that use them) ------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def scale_template() -> Iterator[str]:
    """Migrate one template database per test session."""
    name = unique("autosched_scale_tpl")
    migrate(name)
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def scale_db(scale_template: str, django_db_blocker: Any) -> Iterator[str]:
    """Copy the template into a database of this test's own; open it as alias ``scale``."""
    name = unique("autosched_scale")
    psql(f"CREATE DATABASE {name} TEMPLATE {scale_template}")
    try:
        with django_db_blocker.unblock(), opened(name):
            yield name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Collect started processes; kill whatever is left at the end."""
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.close()
