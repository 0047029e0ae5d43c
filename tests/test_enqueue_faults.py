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
from unittest import mock
from urllib.parse import urlsplit

import pytest
import redis as redis_py

from autosched.enqueue import BackendUnsure, RunToEnqueue, enqueue_many
from tests.processes.engines import REDIS_URL, rq_queue
from tests.processes.helpers import ON_POSTGRES
from tests.proxy import Proxy
from tests.tasks_backend import needs_tasks
from tests.test_engines import admin_kept, queued, stored, tasks_db  # noqa: F401 - fixture

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


# RQ -------------------------------------------------------------------------------------------


@pytest.fixture
def rq_proxy(settings: Any) -> Iterator[tuple[str, Proxy]]:
    """A fresh RQ queue, served by the default backend, whose Redis is behind a proxy."""
    url = urlsplit(REDIS_URL)
    with admin_kept(), rq_queue() as queue, Proxy(url.port or 6379, url.hostname or "") as proxy:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_rq", "django_tasks_rq"]
        proxied = url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        settings.RQ_QUEUES = {queue: {"URL": proxied}}
        settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [queue]}}
        yield queue, proxy


def assert_queued_once(queue: str, count: int) -> None:
    ids = [job[b"id"] for job in queued(queue)]
    assert len(ids) == len(set(ids)) == count, f"{len(ids)} jobs ({len(set(ids))} distinct)"


def test_rq_jobs_whose_exec_reply_is_lost_are_reported_enqueued(
    rq_proxy: tuple[str, Proxy],
) -> None:
    queue, proxy = rq_proxy
    # Redis runs the transaction; the scheduler never hears back.
    proxy.on(b"EXEC", "cut")
    errors = enqueue_many("default", runs(50, queue=queue))
    assert proxy.triggered.is_set()
    assert_queued_once(queue, 50)
    assert errors == [None] * 50


def test_rq_jobs_are_pushed_once_by_a_client_that_retries(
    rq_proxy: tuple[str, Proxy], settings: Any
) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    queue, proxy = rq_proxy
    # A client set up to retry on connection errors must not send the transaction again.
    database = int(urlsplit(REDIS_URL).path.strip("/") or 0)
    settings.RQ_QUEUES = {
        queue: {
            **{"HOST": "127.0.0.1", "PORT": proxy.port, "DB": database},
            "REDIS_CLIENT_KWARGS": {"retry": Retry(NoBackoff(), 3)},
        }
    }
    proxy.on(b"EXEC", "cut")
    errors = enqueue_many("default", runs(50, queue=queue))
    assert proxy.triggered.is_set()
    assert_queued_once(queue, 50)
    assert errors == [None] * 50


def test_rq_runs_redis_cannot_be_asked_about_are_unsure(rq_proxy: tuple[str, Proxy]) -> None:
    queue, proxy = rq_proxy
    proxy.on(b"EXEC", "cut")
    with mock.patch("redis.Redis.exists", side_effect=redis_py.ConnectionError("still down")):
        errors = enqueue_many("default", runs(3, queue=queue))
    assert all(isinstance(error, BackendUnsure) for error in errors)
    assert "(unconfirmed: it may or may not be enqueued): ConnectionError" in str(errors[0])
