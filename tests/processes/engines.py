"""The task queues of the engine tests: RQ on Redis, Celery on RabbitMQ, each on a queue of its own.

Each test gets a queue name of its own (so tests sharing a Redis or a RabbitMQ never take each
other's jobs) and removes that queue, and the jobs it left, at the end. A service that does not
answer fails the test, with the command that starts it: these tests never skip.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.processes.helpers import unique

#: The Redis database the engine tests use (RQ's queues, Celery's results); theirs alone.
REDIS_URL = os.environ.get("AUTOSCHED_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("AUTOSCHED_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
)
START_RABBITMQ = "rabbitmq-server -detached"


def engine_env(engine: str, queue: str) -> dict[str, str]:
    """Return the environment that points a process of tests.processes.settings at ``queue``."""
    return {
        "AUTOSCHED_PROCESS_TASKS": engine,
        "AUTOSCHED_PROCESS_QUEUE": queue,
        "AUTOSCHED_PROCESS_REDIS_URL": REDIS_URL,
        "AUTOSCHED_PROCESS_AMQP_URL": AMQP_URL,
        "DJANGO_SETTINGS_MODULE": "tests.processes.settings",
    }


def require_redis() -> None:
    """Fail the test, saying how to start it, unless Redis answers at ``REDIS_URL``."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        failure = f"{type(exc).__name__}: {exc}"
    else:
        return
    pytest.fail(
        f"Redis is not answering at {REDIS_URL} ({failure}); the RQ and Celery tests need it. "
        f"Start it with `{START_REDIS}` (bash .ci/run does), or point AUTOSCHED_TEST_REDIS_URL "
        "at one.",
        pytrace=False,
    )


def require_rabbitmq() -> None:
    """Fail the test, saying how to start it, unless RabbitMQ answers at ``AMQP_URL``."""
    import kombu

    try:
        with kombu.Connection(AMQP_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        failure = f"{type(exc).__name__}: {exc}"
    else:
        return
    pytest.fail(
        f"RabbitMQ is not answering at {AMQP_URL} ({failure}); the Celery test needs it. Start "
        f"it with `{START_RABBITMQ}` (bash .ci/run does), or point AUTOSCHED_TEST_AMQP_URL at "
        "one.",
        pytrace=False,
    )


# RQ ------------------------------------------------------------------------------------------


def rqworker_args(queue: str) -> tuple[str, ...]:
    """Return the arguments of ``django-admin`` that start one RQ worker on ``queue``."""
    # The worker class stops its pubsub thread without a race (see tests/processes/rqworker.py).
    worker_class = "tests.processes.rqworker.Worker"
    return ("rqworker", "--job-class", "django_tasks_rq.Job", "--worker-class", worker_class, queue)


@contextmanager
def rq_queue() -> Iterator[str]:
    """Give a fresh RQ queue name; delete the queue, its registries and its jobs at the end."""
    require_redis()
    import redis

    name = unique("autosched_rq")
    yield name
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(match=b"rq:job:*"):
        if connection.hget(key, "origin") == name.encode():
            connection.delete(key, b"rq:results:" + key.removeprefix(b"rq:job:"))
    for key in connection.scan_iter(match=f"*{name}*".encode()):
        connection.delete(key)
    connection.srem("rq:queues", f"rq:queue:{name}")


def rq_pending(queue: str) -> int:
    """Return how many jobs of ``queue`` wait or run (0 once the workers drained it)."""
    import redis
    from rq import Queue

    rq = Queue(queue, connection=redis.Redis.from_url(REDIS_URL))
    return rq.count + rq.started_job_registry.count


def rq_failed(queue: str) -> int:
    """Return how many jobs of ``queue`` failed."""
    import redis
    from rq import Queue

    return Queue(queue, connection=redis.Redis.from_url(REDIS_URL)).failed_job_registry.count


# Celery --------------------------------------------------------------------------------------


def celery_worker_command(queue: str, node: str) -> list[str]:
    """Return the command line of one Celery worker (one pool process) on ``queue``."""
    return [
        sys.executable,
        *("-m", "celery", "-A", "django_tasks_fennel.app", "worker"),
        *("--queues", queue, "--hostname", f"{node}@%h", "--concurrency", "1"),
        # Nothing to coordinate between these two workers: start and stop faster.
        *("--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"),
    ]


@contextmanager
def celery_queue() -> Iterator[str]:
    """Give a fresh RabbitMQ queue name; delete the queue at the end (results expire)."""
    require_rabbitmq()
    require_redis()  # Celery's result backend
    import kombu

    name = unique("autosched_celery")
    yield name
    with kombu.Connection(AMQP_URL) as connection:
        channel = connection.channel()
        kombu.Queue(name, channel=channel).delete()
        kombu.Exchange(name, channel=channel).delete()


def celery_ready(queue: str) -> int:
    """Return how many messages of ``queue`` wait for a worker (not those a worker holds)."""
    import kombu

    with kombu.Connection(AMQP_URL) as connection:
        declared = connection.default_channel.queue_declare(queue, passive=True)
    return int(declared.message_count)
