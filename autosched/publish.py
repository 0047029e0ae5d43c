"""The batch writer of django-tasks-fennel (Celery): the messages its enqueue sends, confirmed.

Celery publishes without confirms by default: ``basic.publish`` returns once the message is in
the socket's buffer, so a broker that stops answering takes messages that never reach a queue
while every enqueue reports success. On an AMQP broker (RabbitMQ) this writer sends a batch's
messages on a channel in confirm mode, all at once, then waits for the broker's acks, for at
most ``AUTOSCHED_ENQUEUE_CONFIRM_TIMEOUT`` seconds in all: a run is reported enqueued only once
the broker has acked it, failed when it nacked it or nothing was sent, and unsure (it may or
may not be queued) when its ack did not come in time. Nothing is published twice: Celery's
publish retry is off for these messages, since a message sent again after a lost ack is a
second run. Other brokers (Redis) keep fennel's own ``enqueue``, whose publish waits for the
server's reply.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import socket
import time
from typing import TYPE_CHECKING, Any

from autosched.conf import conf, valid_confirm_timeout
from autosched.worker import tasks_module
from autosched.writing import announce, validated

if TYPE_CHECKING:
    from autosched.enqueue import Batch

__all__ = ["publish_confirmed"]


def publish_confirmed(engine: Any, batch: Batch, database: str | None) -> None:
    """Enqueue to django-tasks-fennel's CeleryBackend; each run is confirmed by the broker."""
    from celery import current_app  # type: ignore[import-untyped]

    runs: list[tuple[int, Any]] = []
    for number, task in validated(engine, batch):
        # A deferred run (never one of autosched's) keeps the per-run way, which schedules it.
        (runs if task.run_after is None else batch.pending).append((number, task))
    if not runs:
        return
    timeout = valid_confirm_timeout(conf.ENQUEUE_CONFIRM_TIMEOUT)
    deadline = time.monotonic() + timeout
    publish = _Publish(batch, runs, deadline)
    try:
        with current_app.pool.acquire(block=True, timeout=timeout) as connection:
            if connection.transport.driver_type != "amqp":
                batch.pending.extend(runs)  # no confirms there: fennel's enqueue, run by run
                return
            for attempt in (1, 2):
                try:
                    publish.send(connection)
                    break
                except Exception:
                    # The connection is in an unknown state: drop it, the next one is new.
                    # One the broker closed while idle fails before a message goes out:
                    # that alone is tried again.
                    with contextlib.suppress(Exception):
                        connection.collect()
                    if publish.sent or attempt == 2:
                        raise
    except Exception as exc:
        publish.error = exc
    announced = []
    for tag, (number, task, result_id, enqueued_at) in enumerate(publish.sent, start=1):
        acked = publish.acks.get(tag)
        if acked:
            args = batch.runs[number].args
            result = functools.partial(_result, task, result_id, enqueued_at, engine.alias, args)
            announced.append((number, result_id, task.module_path, result))
        elif acked is False:
            batch.failed(number, RuntimeError("the broker refused the message (basic.nack)"))
        else:
            batch.unsure(number, publish.error or RuntimeError("no confirm"))
    for number, _ in runs[len(publish.sent) :]:  # never sent
        batch.failed(number, publish.error or RuntimeError("not sent"))
    signals = importlib.import_module(f"{tasks_module().__name__}.signals")
    announce(signals, type(engine), batch, announced)


class _Publish:
    """The messages of a batch's runs, published on one channel in confirm mode."""

    def __init__(self, batch: Batch, runs: list[tuple[int, Any]], deadline: float) -> None:
        self.batch, self.runs, self.deadline = batch, runs, deadline
        #: (run, task, id, enqueued at) of each message handed to the connection, in order:
        #: the n-th has delivery tag n.
        self.sent: list[tuple[int, Any, str, Any]] = []
        #: The broker's answer for each delivery tag: acked (True) or nacked (False).
        self.acks: dict[int, bool] = {}
        self.error: Exception | None = None

    def send(self, connection: Any) -> None:
        """Publish every run, then wait for the broker to confirm them all, until the deadline.

        Raise on a failure (a message unconfirmed at the deadline: ``TimeoutError``).
        """
        from celery import current_app
        from django.utils import timezone
        from django_tasks_fennel import backend as fennel
        from django_tasks_fennel.compat import get_random_id

        connection.connect()
        sock = _socket(connection)
        sock.settimeout(self._remaining())  # every read and write of the batch is bounded
        channel = connection.channel()
        channel.events["basic_ack"].add(functools.partial(_confirmed, self.acks, True))
        channel.events["basic_nack"].add(functools.partial(_confirmed, self.acks, False))
        channel.confirm_select()
        producer = current_app.amqp.Producer(channel, auto_declare=False)
        for number, task in self.runs:
            args = self.batch.runs[number].args
            result_id = get_random_id()
            enqueued_at = timezone.now()
            # As fennel's enqueue, before the message: its result backend's side channel.
            fennel._store_enqueue_info(result_id, task.module_path, args, {}, enqueued_at)
            self.sent.append((number, task, result_id, enqueued_at))
            current_app.send_task(
                fennel._to_celery_name(task.module_path),
                args=args,
                kwargs={},
                task_id=result_id,
                eta=None,
                priority=fennel._map_priority(task.priority),
                headers={fennel.DJANGO_TASKS_PRIORITY_HEADER: task.priority},
                queue=task.queue_name,
                producer=producer,
                retry=False,  # a message sent again after a lost ack runs twice
            )
        while len(self.acks) < len(self.sent):
            if (remaining := self._remaining()) <= 0:
                confirmed = f"{len(self.acks)} of {len(self.sent)}"
                raise TimeoutError(f"the broker confirmed {confirmed} messages in time")
            connection.drain_events(timeout=remaining)
        channel.close()
        sock.settimeout(None)

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()


def _confirmed(acks: dict[int, bool], acked: bool, delivery_tag: int, multiple: bool) -> None:
    """Note the broker's ack or nack of ``delivery_tag`` (and of every tag before it)."""
    if multiple:
        for tag in range(1, delivery_tag + 1):
            acks.setdefault(tag, acked)
    acks[delivery_tag] = acked


def _socket(connection: Any) -> socket.socket:
    """The socket of a py-amqp kombu ``connection``."""
    return connection.connection.transport.sock  # type: ignore[no-any-return]


def _result(task: Any, result_id: str, enqueued_at: Any, alias: str, args: Any) -> Any:
    """The TaskResult that CeleryBackend.enqueue returns for a run."""
    from django_tasks_fennel.compat import TaskResult, TaskResultStatus

    return TaskResult(
        task=task,
        id=result_id,
        status=TaskResultStatus.READY,
        enqueued_at=enqueued_at,
        started_at=None,
        last_attempted_at=None,
        finished_at=None,
        args=args,
        kwargs={},
        backend=alias,
        errors=[],
        worker_ids=[],
    )
