"""PostgreSQL restarted under a running scheduler: it logs, reconnects, keeps its schedule."""

from __future__ import annotations

import itertools
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from autosched.models import PeriodicTask
from tests.scale_helpers import (
    ALIAS,
    ON_POSTGRES,
    SKIP_REASON,
    Cluster,
    Proc,
    free_port,
    manage,
    migrate,
    opened,
    read_runs,
    scale_env,
    too_close,
)

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason=SKIP_REASON)

DATABASE = "autosched_restart"


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
    cluster: Cluster, procs: list[Proc], tmp_path: Path, django_db_blocker: object
) -> None:
    migrate(DATABASE, cluster.port)
    log = tmp_path / "runs.log"
    with django_db_blocker.unblock(), opened(DATABASE, cluster.port):  # type: ignore[attr-defined]
        for name in ("alpha", "beta"):
            PeriodicTask.objects.using(ALIAS).create(
                name=name, function=f"tests.scaleapp.tasks.{name}", interval_seconds=1
            )
        connections[ALIAS].close()
        scheduler = Proc(
            manage("runscheduler", "--sync-interval", "0.2"),
            scale_env(DATABASE, log, cluster.port),
        )
        procs.append(scheduler)
        scheduler.wait_for_output("this process is the active scheduler")
        scheduler.wait_for(lambda: len(read_runs(log)) >= 4, "runs before the restart")

        cluster.pg_ctl("restart", "-m", "fast")
        scheduler.wait_for_output("Cannot sync periodic tasks from database 'default'")
        scheduler.wait_for_output("answers again", timeout=40)
        # Synced again: a row created after the restart gets run.
        PeriodicTask.objects.using(ALIAS).create(
            name="gamma", function="tests.scaleapp.tasks.gamma", interval_seconds=1
        )
        scheduler.wait_for(
            lambda: any(run.name == "gamma" for run in read_runs(log)), "a run of gamma"
        )
        time.sleep(1)
        assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)

    runs = read_runs(log)
    assert too_close(runs, interval=1.0) == []
    alpha = [run.at for run in runs if run.name == "alpha"]
    # Kept its schedule through the restart: no slot missed, none doubled.
    assert max(b - a for a, b in itertools.pairwise(alpha)) < 1.5, str(scheduler)
