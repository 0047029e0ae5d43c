"""The health URL: 200 while a scheduler is alive, 503 when none is; failing tasks to staff."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache
from django.test import Client, override_settings
from django.urls import reverse

from autosched.checks import check_settings
from autosched.health import FAILING_SHOWN
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import STANDBY_KEY, STATUS_KEY

URL = "/autosched/health/"
TOKEN = "s3cret-token-for-the-probe"


def job() -> None:
    """Do nothing."""


def broken() -> None:
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alive() -> StatusPublisher:
    """A scheduler that published its status: one task failing, one ok."""
    scheduler = Scheduler()
    scheduler.add_task("fine", job, 60)
    scheduler.add_task("failing", broken, 60)
    for task in scheduler.tasks.values():
        asyncio.run(scheduler.run_task(task))
    publisher = StatusPublisher(scheduler)
    publisher.publish()
    return publisher


def test_the_url_is_autosched_health() -> None:
    assert reverse("autosched:health") == URL


def test_503_when_no_scheduler_is_alive(client: Client) -> None:
    response = client.get(URL)

    assert response.status_code == 503
    assert response.json() == {"alive": False, "age": None, "ttl": 5.0}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.usefixtures("alive")
def test_200_while_a_scheduler_is_alive_without_the_tasks_for_anyone(client: Client) -> None:
    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["alive"] is True
    assert body["scheduler"]["role"] == "active"
    assert "failing" not in body
    assert "host" not in body["scheduler"]


@pytest.mark.usefixtures("alive")
def test_head_is_answered_like_get(client: Client) -> None:
    assert client.head(URL).status_code == 200


@pytest.mark.usefixtures("alive")
def test_staff_see_the_failing_tasks(admin_client: Client) -> None:
    body = admin_client.get(URL).json()

    assert body["failing"] == ["failing"]
    assert body["failing_count"] == 1
    assert body["scheduler"]["tasks_loaded"] == 2


@pytest.mark.usefixtures("alive")
@override_settings(AUTOSCHED_HEALTH_TOKEN=TOKEN)
def test_the_bearer_token_shows_the_failing_tasks_compared_in_constant_time(
    client: Client,
) -> None:
    with mock.patch("autosched.health.hmac.compare_digest", wraps=hmac.compare_digest) as same:
        body = client.get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).json()

    assert body["failing"] == ["failing"]
    same.assert_called_once_with(TOKEN.encode(), TOKEN.encode())


@pytest.mark.usefixtures("alive")
@override_settings(AUTOSCHED_HEALTH_TOKEN=TOKEN)
@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", "", TOKEN]
)
def test_a_wrong_token_gets_the_anonymous_answer(client: Client, authorization: str) -> None:
    response = client.get(URL, headers={"Authorization": authorization})

    assert response.status_code == 200
    assert "failing" not in response.json()


@pytest.mark.usefixtures("alive")
def test_without_a_token_setting_no_token_is_accepted(client: Client) -> None:
    body = client.get(URL, headers={"Authorization": "Bearer None"}).json()

    assert "failing" not in body


@pytest.mark.usefixtures("alive")
@override_settings(AUTOSCHED_HEALTH_TOKEN="short")
def test_a_bad_token_setting_lets_no_one_in_by_token(client: Client) -> None:
    body = client.get(URL, headers={"Authorization": "Bearer short"}).json()

    assert "failing" not in body


def test_other_methods_are_not_allowed(client: Client) -> None:
    assert client.post(URL).status_code == 405


@pytest.mark.usefixtures("alive")
def test_an_anonymous_probe_reads_the_heartbeats_only(client: Client) -> None:
    with mock.patch.object(FileBasedCache, "get_many", autospec=True) as get_many:
        get_many.return_value = {}
        client.get(URL)

    (_, keys), _ = get_many.call_args
    assert sorted(keys) == sorted([STATUS_KEY, STANDBY_KEY])


def test_a_cache_down_is_503_and_its_error_is_for_staff_only(
    client: Client, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache server down")

    monkeypatch.setattr(FileBasedCache, "get_many", down)
    anonymous, staff = client.get(URL), admin_client.get(URL)

    assert anonymous.status_code == staff.status_code == 503
    assert anonymous.json()["error"] == "The live status cannot be read."
    assert staff.json()["error"] == "ConnectionError: cache server down"


def test_the_failing_list_is_cut_short_and_counted(admin_client: Client) -> None:
    scheduler = Scheduler()
    for number in range(FAILING_SHOWN + 5):
        scheduler.add_task(f"t{number:04}", broken, 60)
        asyncio.run(scheduler.run_task(scheduler.tasks[f"t{number:04}"]))
    StatusPublisher(scheduler).publish()

    body = admin_client.get(URL).json()

    assert body["failing_count"] == FAILING_SHOWN + 5
    assert body["failing"] == [f"t{number:04}" for number in range(FAILING_SHOWN)]


@pytest.mark.parametrize("bad", ["short", 12345678901234567890, "has a space in it, see?", ""])
def test_e008_a_bad_health_token(bad: object) -> None:
    with override_settings(AUTOSCHED_HEALTH_TOKEN=bad):
        [message] = check_settings()

    assert message.id == "autosched.E008"
    assert str(bad) not in message.msg or bad == ""  # a secret is never repeated
    assert message.hint


def test_e008_accepts_a_long_token_and_none() -> None:
    for good in (TOKEN, None):
        with override_settings(AUTOSCHED_HEALTH_TOKEN=good):
            assert check_settings() == []
