"""PostgreSQL restarted under a running scheduler: it logs, reconnects, keeps its schedule."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from autosched.models import PeriodicTask
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    CommandProcess,
    command,
    key,
    migrate,
    opened,
    postgres_only,
    process_env,
    read_runs,
    too_close,
)

pytestmark = postgres_only

DATABASE = "autosched_restart"


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


@pytest.fixture
def cluster(django_db_blocker: object) -> Iterator[Cluster]:
    """A private PostgreSQL server: the shared one must not be restarted under others' tests."""
    base = Path(tempfile.mkdtemp(prefix="autosched-pg-"))
    base.chmod(0o755)  # the server runs as the postgres user, who must reach its data
    server = Cluster(base / "pg", free_port())
    server.init()
    server.pg_ctl("start")
    try:
        yield server
    finally:
        server.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_scheduler_survives_a_database_restart(
    cluster: Cluster, procs: list[CommandProcess], runs_log: Path, django_db_blocker: object
) -> None:
    migrate(DATABASE, cluster.port)
    with django_db_blocker.unblock(), opened(DATABASE, cluster.port):  # type: ignore[attr-defined]
        for name in ("alpha", "beta"):
            PeriodicTask.objects.using(ALIAS).create(
                name=name, function=key(name), interval_seconds=1
            )
        connections[ALIAS].close()
        scheduler = CommandProcess(
            command("runscheduler", "--sync-interval", "0.2"),
            process_env(DATABASE, runs_log, cluster.port),
        )
        procs.append(scheduler)
        scheduler.wait_for_output(ACTIVE)
        scheduler.wait_for(lambda: len(read_runs(runs_log)) >= 4, "runs before the restart")

        cluster.pg_ctl("restart", "-m", "fast")
        scheduler.wait_for_output("Cannot sync periodic tasks from database 'default'")
        scheduler.wait_for_output("answers again", timeout=40)
        # Synced again: a row created after the restart gets run.
        PeriodicTask.objects.using(ALIAS).create(
            name="gamma", function=key("gamma"), interval_seconds=1
        )
        scheduler.wait_for(
            lambda: any(run.name == "gamma" for run in read_runs(runs_log)), "a run of gamma"
        )
        time.sleep(1)
        assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)

    runs = read_runs(runs_log)
    assert too_close(runs, interval=1.0) == []
    alpha = [run.at for run in runs if run.name == "alpha"]
    # Kept its schedule through the restart: no slot missed, none doubled.
    assert max(b - a for a, b in itertools.pairwise(alpha)) < 1.5, str(scheduler)
