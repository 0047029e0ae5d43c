"""A stop is bounded when the database hangs (no answer, no error): real processes on PostgreSQL.

The scheduler reaches PostgreSQL through a proxy that the test black-holes: the shared server
is never touched.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autosched.models import PeriodicTask
from tests.blackhole_proxy import TcpProxy
from tests.processes.helpers import ACTIVE, ALIAS, CommandProcess, key, postgres_only, read_runs

pytestmark = postgres_only

GRACE = 1.0


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        yield proxy


def test_sigterm_while_the_database_hangs_exits_within_grace_plus_7_s(
    start: Callable[..., CommandProcess], runs_log: Path, proxy: TcpProxy
) -> None:
    PeriodicTask.objects.using(ALIAS).create(
        name="alpha", function=key("alpha"), interval_seconds=1
    )
    active = start(
        "runscheduler",
        "--sync-interval",
        "0.2",
        AUTOSCHED_PROCESS_GRACE_PERIOD=str(GRACE),
        AUTOSCHED_PROCESS_PGPORT=str(proxy.port),
    )
    active.wait_for_output(ACTIVE)
    active.wait_for(lambda: read_runs(runs_log), "a run of alpha")

    proxy.black_hole()
    # The sync asks every 0.2 s and the lease every 2 s: both end up waiting for an answer.
    active.wait_for(lambda: proxy.stalled() >= 2, "the sync and the lease to hang", timeout=10)
    active.popen.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    # The README's bound: the grace period, 2 s for cancelled async runs, 5 s for the lease.
    bound = GRACE + 2 + 5
    assert active.popen.wait(bound) == 0, str(active)
    took = time.monotonic() - sent
    assert took < bound
    assert "Exiting without waiting for database 'default', which does not answer." in str(active)
    print(f"stopped in {took:.2f} s with the database black-holed (bound {bound:g} s)")
