"""Enqueueing under connection faults: nothing doubled, nothing reported untrue.

Each test puts a ``tests.proxy.Proxy`` between the code and the machine's PostgreSQL, Redis
or RabbitMQ and makes the fault there (a reply lost, a broker that stops answering); the
services themselves are never touched. They run with the PostgreSQL suite, which requires
Redis and RabbitMQ too: a missing service fails them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from autosched.enqueue import RunToEnqueue, enqueue_many
from tests.processes.helpers import ON_POSTGRES
from tests.proxy import Proxy
from tests.tasks_backend import needs_tasks
from tests.test_engines import admin_kept, stored, tasks_db  # noqa: F401 - fixtures

postgres = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="a connection to cut needs PostgreSQL (and Redis, RabbitMQ): AUTOSCHED_TEST_DB=postgres",
)
pytestmark = [needs_tasks, postgres]


def runs(count: int, queue: str = "default") -> list[RunToEnqueue]:
    return [RunToEnqueue("k", f"run-{number}", queue_name=queue) for number in range(count)]


# django-tasks-db ------------------------------------------------------------------------------


@pytest.fixture
def pg_proxy() -> Iterator[Proxy]:
    """The test's database connection through a proxy in front of PostgreSQL."""
    from django.db import connections

    connection = connections["default"]
    settings = connection.settings_dict
    port = settings["PORT"]
    with Proxy(int(port or 5432), settings["HOST"] or "127.0.0.1") as proxy:
        connection.close()
        settings["PORT"] = str(proxy.port)
        try:
            yield proxy
        finally:
            connection.close()
            settings["PORT"] = port


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tasks_db")
def test_a_batch_whose_commit_reply_is_lost_is_stored_once(pg_proxy: Proxy) -> None:
    # The server gets the COMMIT and commits; the scheduler sees the connection die.
    pg_proxy.on(b"COMMIT", "cut")
    errors = enqueue_many("default", runs(100))
    assert pg_proxy.triggered.is_set()
    names = Counter(row.args_kwargs["args"][1] for row in stored())
    assert sum(names.values()) == 100, f"{sum(names.values())} rows for 100 runs"
    assert set(names.values()) == {1}
    assert errors == [None] * 100


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tasks_db")
def test_the_per_run_way_finds_what_a_lost_commit_stored(pg_proxy: Proxy, settings: Any) -> None:
    # A backend of one's own enqueues run by run, in one transaction: the ids are known only
    # from each enqueue, before the COMMIT.
    settings.TASKS = {"default": {"BACKEND": "tests.test_engines.OwnEnqueue"}}
    pg_proxy.on(b"COMMIT", "cut")
    errors = enqueue_many("default", runs(20))
    assert pg_proxy.triggered.is_set()
    names = Counter(row.args_kwargs["args"][1] for row in stored())
    assert sum(names.values()) == 20, f"{sum(names.values())} rows for 20 runs"
    assert errors == [None] * 20
