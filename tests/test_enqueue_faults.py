"""Enqueueing under connection faults: nothing doubled, nothing reported untrue.

Each test puts a ``tests.proxy.Proxy`` between the code and the machine's PostgreSQL, Redis
or RabbitMQ and makes the fault there (a reply lost, a broker that stops answering); the
services themselves are never touched. They run with the PostgreSQL suite, which requires
Redis and RabbitMQ too: a missing service fails them.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import redis as redis_py

from autosched.enqueue import BackendFailed, BackendUnsure, RunToEnqueue, enqueue_many
from tests.processes.engines import AMQP_URL, REDIS_URL, celery_queue, rq_queue
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


# Celery on RabbitMQ ---------------------------------------------------------------------------

#: The start of an AMQP basic.publish method frame's payload: class 60, method 40.
BASIC_PUBLISH = b"\x00\x3c\x00\x28"


@pytest.fixture
def celery_proxy(settings: Any) -> Iterator[tuple[str, Proxy]]:
    """A fresh Celery queue, served by the default backend, whose RabbitMQ is behind a proxy."""
    from celery import Celery, _state

    url = urlsplit(AMQP_URL)
    with (
        admin_kept(),
        celery_queue() as queue,
        Proxy(url.port or 5672, url.hostname or "") as proxy,
    ):
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django_tasks_fennel"]
        settings.TASKS = {
            "default": {"BACKEND": "django_tasks_fennel.CeleryBackend", "QUEUES": [queue]}
        }
        previous = _state.default_app, _state._tls.current_app
        netloc = url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy.port}"
        app = Celery("autosched-tests", broker=url._replace(netloc=netloc).geturl())
        app.conf.broker_connection_timeout = 2
        app.set_current()
        app.set_default()
        try:
            yield queue, proxy
        finally:
            app.close()
            _state.default_app, _state._tls.current_app = previous


def celery_message_ids(queue: str) -> list[str]:
    """Take every message off ``queue`` (straight from RabbitMQ); return their task ids."""
    import kombu

    ids = []
    with kombu.Connection(AMQP_URL) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            ids.append(message.headers["id"])
    return ids


def test_celery_reports_enqueued_only_what_the_broker_confirmed(
    celery_proxy: tuple[str, Proxy], settings: Any
) -> None:
    from autosched.runner.bulk import EnqueueBatcher
    from autosched.worker import tasks_module

    queue, proxy = celery_proxy
    settings.AUTOSCHED_ENQUEUE_CONFIRM_TIMEOUT = 1.0
    reported: list[str] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        reported.append(task_result.id)

    signals = importlib.import_module(f"{tasks_module().__name__}.signals")
    signals.task_enqueued.connect(receiver)
    # The broker stops answering after the 300th message, for 3 s; then the connections it
    # held are gone (their bytes with them) and it answers again.
    proxy.on(BASIC_PUBLISH, "blackhole", count=300)
    outage = threading.Event()

    def heal() -> None:
        if proxy.triggered.wait(60):
            outage.wait(3.0)  # how long the broker is away
            proxy.cut()
            proxy.forward()

    healer = threading.Thread(target=heal, daemon=True)
    healer.start()
    batcher = EnqueueBatcher()

    async def slot() -> list[BaseException | None]:
        enqueues = [batcher.enqueue("default", run) for run in runs(2000, queue=queue)]
        return await asyncio.gather(*enqueues, return_exceptions=True)

    try:
        outcomes = asyncio.run(slot())
    finally:
        signals.task_enqueued.disconnect(receiver)
        batcher.close()
        outage.set()
        healer.join(10)
    assert proxy.triggered.is_set()
    proxy.forward()
    in_queue = celery_message_ids(queue)
    enqueued = sum(outcome is None for outcome in outcomes)
    errors = [getattr(outcome, "error", outcome) for outcome in outcomes if outcome is not None]
    unsure = sum(isinstance(error, BackendUnsure) for error in errors)
    figures = (
        f"2000 runs: {enqueued} reported enqueued, {unsure} unsure, "
        f"{len(outcomes) - enqueued - unsure} failed; {len(in_queue)} messages in the queue "
        f"({len(set(in_queue))} distinct)"
    )
    print(figures)
    assert enqueued == len(reported), figures
    missing = set(reported) - set(in_queue)
    assert not missing, f"{len(missing)} reported enqueued but not in the queue: {figures}"
    assert len(in_queue) == len(set(in_queue)), figures


def test_celery_runs_the_broker_refuses_are_failed(
    celery_proxy: tuple[str, Proxy], settings: Any
) -> None:
    import kombu
    from celery import current_app

    queue, _ = celery_proxy
    # A queue that takes 5 messages and nacks the rest.
    limits = {"x-max-length": 5, "x-overflow": "reject-publish"}
    current_app.conf.task_queues = [
        kombu.Queue(queue, kombu.Exchange(queue), routing_key=queue, queue_arguments=limits)
    ]
    errors = enqueue_many("default", runs(8, queue=queue))
    assert errors[:5] == [None] * 5
    assert all(type(error) is BackendFailed for error in errors[5:])
    assert "the broker refused the message (basic.nack)" in str(errors[5])
    assert len(celery_message_ids(queue)) == 5
