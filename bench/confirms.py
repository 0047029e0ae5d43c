"""What publisher confirms cost: enqueues a second to Celery on RabbitMQ, with and without.

    python bench/confirms.py [--runs 2000] [--repeat 3]

Sends ``--runs`` runs with ``enqueue_many`` in batches of 100 (as the enqueue threads do) to a
fresh queue of the RabbitMQ at AUTOSCHED_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1//):
first with autosched's confirmed batch writer (the default), then run by run through
django-tasks-fennel's own ``enqueue`` (Celery's default: no confirms). Prints runs a second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("AUTOSCHED_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = f"autosched_bench_confirms_{os.getpid()}"


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django_tasks", "django_tasks_fennel", "autosched"],
        TASKS={"default": {"BACKEND": "django_tasks_fennel.CeleryBackend", "QUEUES": [QUEUE]}},
        USE_TZ=True,
        DATABASES={},
    )
    from celery import Celery

    app = Celery("bench-confirms", broker=AMQP_URL)
    app.set_current()
    app.set_default()
    import django

    django.setup()


def rate(count: int) -> float:
    from autosched.enqueue import RunToEnqueue, enqueue_many

    runs = [RunToEnqueue("k", f"run-{n}", queue_name=QUEUE) for n in range(count)]
    began = time.perf_counter()
    for start in range(0, count, 100):
        errors = enqueue_many("default", runs[start : start + 100])
        assert not any(errors), errors
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup()
    import kombu

    from autosched import engines

    try:
        rate(100)  # warm up: connections, the queue's declaration
        confirmed, unconfirmed = [], []
        for _ in range(args.repeat):
            confirmed.append(rate(args.runs))
            with mock.patch.object(engines, "_WRITERS", engines._WRITERS[:2]):
                unconfirmed.append(rate(args.runs))
    finally:
        with kombu.Connection(AMQP_URL) as connection:
            kombu.Queue(QUEUE, channel=connection.default_channel).delete()
            kombu.Exchange(QUEUE, channel=connection.default_channel).delete()
    best = max
    print(f"{args.runs} runs to RabbitMQ in batches of 100, best of {args.repeat}:")
    print(f"  confirmed (autosched's batch writer): {best(confirmed):,.0f} runs/s")
    print(f"  unconfirmed (fennel's enqueue, run by run): {best(unconfirmed):,.0f} runs/s")


if __name__ == "__main__":
    main()
