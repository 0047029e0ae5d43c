"""Run now for a user who may run tasks but not view them: answered without names or hosts.

Ids are sequential: a name, a host or a pid in the answer would let such a user enumerate
every task and where the scheduler runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from autosched.admin.periodic_task import PeriodicTaskAdmin
from autosched.models import PeriodicTask, RunRequest
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from tests.admin.test_live_status import HEARTBEAT, run_now_url, staff

pytestmark = pytest.mark.django_db


def job() -> None:
    """Do nothing."""


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def task() -> PeriodicTask:
    PeriodicTask.objects.all().delete()
    return PeriodicTask.objects.create(name="secret-name", function=HEARTBEAT, interval_seconds=60)


def said(client: Client, task: PeriodicTask) -> tuple[str, list[str]]:
    response = client.post(run_now_url(task))
    assert response.status_code == 302
    return response["Location"], [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("state", ["alive", "running", "not loaded", "gone"])
def test_a_user_who_may_only_run_gets_no_names_hosts_or_pids(
    client: Client, task: PeriodicTask, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PeriodicTaskAdmin, "run_now_wait", 0.0)
    scheduler = Scheduler()
    if state != "not loaded":
        scheduler.add_task("secret-name", job, 60)
        scheduler.tasks["secret-name"].running = state == "running"
    publisher = StatusPublisher(scheduler)
    if state != "gone":
        publisher.publish()
    staff(client, "run_periodictask")
    location, messages = said(client, task)
    assert messages
    for message in messages:
        assert "secret-name" not in message
        assert publisher.identity.host not in message
        assert str(publisher.identity.pid) not in message
        assert "1 task" in message
    # Sent where it may look: not to the task's page, which it may not see.
    assert location == reverse("admin:index")
    assert client.get(location).status_code == 200
    assert RunRequest.objects.count() == (1 if state in ("alive", "gone") else 0)


def test_a_user_who_may_view_still_gets_the_names(client: Client, task: PeriodicTask) -> None:
    StatusPublisher(Scheduler()).publish()
    staff(client, "run_periodictask", "view_periodictask")
    location, [message] = said(client, task)
    assert "secret-name" in message
    assert location == reverse("admin:autosched_periodictask_change", args=[task.pk])
