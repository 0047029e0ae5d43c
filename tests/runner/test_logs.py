"""The lease's, the enqueue's and the worker's log records carry autosched's ``extra`` keys."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache

from autosched import enqueue
from autosched.enqueue import RunToEnqueue, enqueue_many
from autosched.models import SchedulerLease
from autosched.runner.leadership import Leadership
from autosched.scheduler.logs import KEYS
from tests.scheduler.test_logs import Capture
from tests.tasks_backend import IMMEDIATE, needs_tasks

SLOT = "2026-12-01T10:00:00+00:00"


@pytest.fixture
def captured() -> Iterator[Capture]:
    logger = logging.getLogger("autosched")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def keys_of(record: logging.LogRecord) -> dict[str, object]:
    return {key: getattr(record, key) for key in KEYS}


@pytest.mark.django_db(transaction=True)
def test_the_lease_names_each_of_its_transitions(captured: Capture) -> None:
    first, second = Leadership(ttl=10, renew_every=2), Leadership(ttl=10, renew_every=2)
    first.attempt()
    second.attempt()
    SchedulerLease.objects.update(holder=second.holder)  # taken from under the first
    first.attempt()
    second.release()

    said = [r.autosched_event for r in captured.records]  # type: ignore[attr-defined]
    assert said == [
        "lease_acquired",
        "lease_held_elsewhere",
        "lease_held_elsewhere",  # by the second, as the first sees it
        "lease_lost",
        "lease_released",
    ]
    assert keys_of(captured.records[0]) == dict.fromkeys(KEYS) | {
        "autosched_event": "lease_acquired"
    }


@pytest.mark.django_db
def test_an_enqueue_is_named_with_its_task_and_slot(captured: Capture) -> None:
    task = mock.Mock()
    task.using.return_value.enqueue.return_value = mock.Mock(id="42")
    with mock.patch.object(enqueue, "worker_task", return_value=task):
        enqueue_many("default", [RunToEnqueue("k", "nightly", scheduled_at=SLOT)])

    (record,) = captured.of("enqueued")
    assert keys_of(record) == {
        "autosched_event": "enqueued",
        "task": "nightly",
        "slot": SLOT,
        "outcome": "ok",
        "duration_s": None,
    }


@needs_tasks
def test_a_run_on_a_worker_logs_started_and_finished(settings: Any, captured: Capture) -> None:
    from autosched.worker import run_periodic_task

    settings.TASKS = IMMEDIATE
    try:
        with pytest.raises(RuntimeError):
            run_periodic_task.call("tests.testapp.tasks.failing", "nightly", {}, SLOT)
    finally:
        cache.clear()

    (started,) = captured.of("started")
    (finished,) = captured.of("finished")
    assert keys_of(started) == dict.fromkeys(KEYS) | {
        "autosched_event": "started",
        "task": "nightly",
        "slot": SLOT,
    }
    assert (finished.task, finished.slot, finished.outcome) == ("nightly", SLOT, "error")  # type: ignore[attr-defined]
    assert finished.duration_s >= 0  # type: ignore[attr-defined]
