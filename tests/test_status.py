"""read_status: a snapshot is alive for its TTL; none, a stale one or a broken cache is not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache

from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import STANDBY_KEY, STATUS_KEY, TASKS_KEY, read_status


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.delete_many([STATUS_KEY, STANDBY_KEY, TASKS_KEY])
    yield
    cache.delete_many([STATUS_KEY, STANDBY_KEY, TASKS_KEY])


@pytest.fixture
def publisher() -> StatusPublisher:
    """A publisher of one task's status, as ``runscheduler`` runs it elsewhere."""
    scheduler = Scheduler()
    scheduler.add_task("alpha", job, 60)
    return StatusPublisher(scheduler, info={"database": "default"})


def test_a_snapshot_older_than_the_ttl_is_not_alive(publisher: StatusPublisher) -> None:
    publisher.publish()
    published = datetime.fromisoformat(read_status()["scheduler"]["published_at"])
    assert read_status(now=published + timedelta(seconds=5))["alive"]
    stale = read_status(now=published + timedelta(seconds=5.01))
    assert not stale["alive"]
    assert stale["scheduler"] is None
    assert stale["tasks"] == {}


def test_nothing_published_is_not_alive() -> None:
    status = read_status()
    assert status == {
        "alive": False,
        "age": None,
        "ttl": 5.0,
        "cache": "default",
        "error": None,
        "scheduler": None,
        "tasks": {},
    }


def test_an_unreadable_cache_reads_as_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache server down")

    monkeypatch.setattr(FileBasedCache, "get_many", broken)
    status = read_status()
    assert not status["alive"]
    assert status["error"] == "ConnectionError: cache server down"
