"""Run now requests in the database: claimed once, expired after a minute, kept a day."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from autosched.models import PeriodicTask, RunRequest
from autosched.models.run_request import Claim, claim, claim_requests, pending_ids

NO_DEFAULT = "tests.testapp.tasks.no_default"


@pytest.fixture
def task(db: None) -> PeriodicTask:
    return PeriodicTask.objects.create(name="manual", function=NO_DEFAULT, interval_seconds=300)


def test_a_request_is_claimed_once(task: PeriodicTask) -> None:
    request = RunRequest.objects.create(task=task, requested_by="ann")
    claims = claim_requests(claimer="host-a:1")
    assert claims == [Claim(request.pk, "manual", "ann", request.requested_at)]
    assert claim_requests(claimer="host-b:2") == []
    request.refresh_from_db()
    assert request.claimed_by == "host-a:1"
    assert request.claimed_at is not None


def test_two_schedulers_that_saw_the_same_request_run_it_once(task: PeriodicTask) -> None:
    RunRequest.objects.create(task=task, requested_by="ann")
    # Both read the pending ids before either updates: the UPDATE decides who wins.
    seen_by_a, seen_by_b = pending_ids(), pending_ids()
    won_by_b = claim(seen_by_b, "default", claimer="host-b:2")
    won_by_a = claim(seen_by_a, "default", claimer="host-a:1")
    assert [c.name for c in won_by_b] == ["manual"]
    assert won_by_a == []


def test_nothing_pending_costs_one_query(
    task: PeriodicTask, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        assert claim_requests(claimer="x:1") == []


def test_a_request_older_than_a_minute_expires(
    task: PeriodicTask, caplog: pytest.LogCaptureFixture
) -> None:
    old = timezone.now() - timedelta(seconds=61)
    RunRequest.objects.create(task=task, requested_by="ann", requested_at=old)
    fresh = RunRequest.objects.create(task=task, requested_by="bob")
    with caplog.at_level(logging.WARNING, "autosched"):
        claims = claim_requests(claimer="x:1")
    assert [c.id for c in claims] == [fresh.pk]
    assert list(RunRequest.objects.values_list("requested_by", flat=True)) == ["bob"]
    assert "Run request for 'manual' by ann expired" in caplog.text


def test_claimed_requests_are_kept_for_a_day(task: PeriodicTask) -> None:
    RunRequest.objects.create(
        task=task, claimed_at=timezone.now() - timedelta(days=1, seconds=1), claimed_by="x:1"
    )
    RunRequest.objects.create(task=task, claimed_at=timezone.now(), claimed_by="x:1")
    RunRequest.objects.create(task=task)
    claim_requests(claimer="x:1")
    assert RunRequest.objects.count() == 2


def test_deleting_the_task_deletes_its_requests(task: PeriodicTask) -> None:
    RunRequest.objects.create(task=task)
    task.delete()
    assert not RunRequest.objects.exists()


def test_expiry_goes_by_the_database_clock_not_this_hosts(
    task: PeriodicTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The web host wrote the request (stamped by the database); this scheduler's clock runs
    # two minutes ahead: the request must still be claimed, not expired.
    request = RunRequest.objects.create(task=task, requested_by="ann")
    ahead = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(timezone, "now", lambda: ahead)
    assert [c.id for c in claim_requests(claimer="x:1")] == [request.pk]
