"""What publisher confirms cost: enqueues a second to Celery on RabbitMQ, with and without.

    python bench/confirms.py [--runs 2000] [--repeat 3]

Sends ``--runs`` runs with ``enqueue_many`` in batches of 100 (as the enqueue threads do) to a
fresh queue of the RabbitMQ at AUTOSCHED_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1//):
first with autosched's confirmed batch writer (the default), then run by run through
django-tasks-fennel's own ``enqueue``: with Celery's defaults (no confirms), and with
``broker_transport_options={"confirm_publish": True}`` (each publish waits for its own ack).
Prints runs a second.
"""

from __future__ import annotations

import argparse
import contextlib
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
    use_app()  # before django.setup(): fennel installs an app of its own when none is current
    import django

    django.setup()


def use_app(**transport_options: object) -> None:
    """Make a Celery app of these transport options the current one."""
    from celery import Celery

    app = Celery("bench-confirms", broker=AMQP_URL)
    app.conf.broker_transport_options = transport_options
    app.set_current()
    app.set_default()


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

    per_run = mock.patch.object(engines, "_WRITERS", engines._WRITERS[:2])
    plain: dict[str, object] = {}
    apps = {"batch": plain, "plain": plain, "each": {"confirm_publish": True}}
    rates: dict[str, list[float]] = {name: [] for name in apps}
    try:
        for _ in range(args.repeat):
            for name, options in apps.items():
                use_app(**options)
                with per_run if name != "batch" else contextlib.nullcontext():
                    rate(100)  # warm up: connections, the queue's declaration
                    rates[name].append(rate(args.runs))
    finally:
        with kombu.Connection(AMQP_URL) as connection:
            kombu.Queue(QUEUE, channel=connection.default_channel).delete()
            kombu.Exchange(QUEUE, channel=connection.default_channel).delete()
    print(f"{args.runs} runs to RabbitMQ in batches of 100, best of {args.repeat}:")
    print(f"  confirmed per batch (autosched's writer):     {max(rates['batch']):,.0f} runs/s")
    print(f"  unconfirmed (fennel's enqueue, Celery's default): {max(rates['plain']):,.0f} runs/s")
    print(f"  confirmed one by one (fennel, confirm_publish):   {max(rates['each']):,.0f} runs/s")


if __name__ == "__main__":
    main()
