"""The admin's live status, Run now, and who may see and do what."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache
from django.test import Client
from django.urls import reverse

from autosched.admin import PeriodicTaskAdmin
from autosched.models import PeriodicTask, RunRequest
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler

pytestmark = pytest.mark.django_db

HEARTBEAT = "tests.testapp.tasks.heartbeat"
CHANGELIST = reverse("admin:autosched_periodictask_changelist")
STATUS = reverse("admin:autosched_periodictask_status")


def job() -> None:
    """Do nothing."""


def fail() -> None:
    raise RuntimeError("boom <b>")


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer Run now at once: no scheduler runs in these tests unless one says otherwise."""
    monkeypatch.setattr(PeriodicTaskAdmin, "run_now_wait", 0.0)


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()  # the test run's own cache directory
    yield
    cache.clear()


@pytest.fixture
def task() -> PeriodicTask:
    PeriodicTask.objects.all().delete()
    return PeriodicTask.objects.create(name="alpha", function=HEARTBEAT, interval_seconds=60)


@pytest.fixture
def scheduler() -> Scheduler:
    """A scheduler whose status is published, as if ``runscheduler`` ran elsewhere."""
    scheduler = Scheduler()
    scheduler.add_task("alpha", job, 60)
    return scheduler


def publish(scheduler: Scheduler) -> None:
    StatusPublisher(scheduler).publish()


def run_now_url(task: PeriodicTask) -> str:
    return reverse("admin:autosched_periodictask_run_now", args=[task.pk])


def staff(client: Client, *codenames: str) -> User:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# The list and its status ----------------------------------------------------------------


def test_the_list_shows_the_status_columns(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)
    content = admin_client.get(CHANGELIST).content.decode()
    for title in ("Running now", "Next run", "Last run", "Last outcome"):
        assert title in content
    assert 'data-autosched-task="alpha" data-autosched-field="next_run">in 1 min<' in content
    assert 'data-autosched-field="last_run">never<' in content


def test_the_banner_names_a_live_scheduler(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Scheduler alive on host" in content
    assert "autosched-alive" in content
    assert "autosched/status.js" in content


def test_the_banner_says_when_no_scheduler_reports(
    admin_client: Client, task: PeriodicTask
) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    assert "No scheduler has reported in the last 5 s." in content
    assert 'data-autosched-field="next_run"><' in content  # nothing shown, nothing pretended


def test_the_change_page_shows_the_last_error(admin_client: Client, task: PeriodicTask) -> None:
    scheduler = Scheduler()
    scheduler.add_task("alpha", fail, 60)
    asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))
    publish(scheduler)
    url = reverse("admin:autosched_periodictask_change", args=[task.pk])
    content = admin_client.get(url).content.decode()
    assert "RuntimeError: boom &lt;b&gt;" in content
    assert "1 runs, 1 failed, 0 skipped" in content
    assert 'data-autosched-field="outcome" title="RuntimeError: boom &lt;b&gt;">error (' in (
        admin_client.get(CHANGELIST).content.decode()
    )


# The status JSON view -------------------------------------------------------------------


def test_the_status_view_returns_the_cells(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)
    data = admin_client.get(STATUS).json()
    assert data["alive"] is True
    assert data["banner"].startswith("Scheduler alive on host")
    assert data["tasks"]["alpha"]["next_run"] in ("in 1 min", "in 59 s")
    assert set(data["tasks"]["alpha"]) == {
        "running",
        "next_run",
        "last_run",
        "outcome",
        "error",
        "runs",
    }


def test_the_status_view_refuses_anonymous_users(client: Client) -> None:
    response = client.get(STATUS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_status_view_refuses_users_who_are_not_staff(client: Client) -> None:
    client.force_login(User.objects.create_user("visitor", password="pw"))
    response = client.get(STATUS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_status_view_refuses_staff_without_view_permission(client: Client) -> None:
    staff(client)
    assert client.get(STATUS).status_code == 403


def test_the_status_view_serves_staff_with_view_permission(client: Client) -> None:
    staff(client, "view_periodictask")
    assert client.get(STATUS).status_code == 200


# Changing without the change permission -------------------------------------------------


def test_staff_without_change_permission_get_no_editable_fields(
    client: Client, task: PeriodicTask
) -> None:
    staff(client, "view_periodictask")
    content = client.get(CHANGELIST).content.decode()
    assert 'name="form-0-enabled"' not in content
    assert 'name="form-0-interval_seconds"' not in content


def test_staff_without_change_permission_cannot_toggle_or_retime(
    client: Client, task: PeriodicTask
) -> None:
    staff(client, "view_periodictask")
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(task.pk),
        "form-0-interval_seconds": "5",
        "_save": "Save",
    }
    assert client.post(CHANGELIST, data).status_code == 403
    change = reverse("admin:autosched_periodictask_change", args=[task.pk])
    assert client.post(change, {"interval_seconds": "5"}).status_code == 403
    task.refresh_from_db()
    assert (task.enabled, task.interval_seconds) == (True, 60)


# Run now --------------------------------------------------------------------------------


def test_run_now_asks_the_live_scheduler(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)
    response = admin_client.post(run_now_url(task), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:autosched_periodictask_change", args=[task.pk]
    )
    [message] = messages_of(response)
    assert message.startswith("Asked the scheduler on ")
    assert message.endswith("to run alpha; it has not reported the start yet.")
    request = RunRequest.objects.get()
    assert (request.task, request.requested_by, request.claimed_at) == (task, "admin", None)


def test_run_now_without_a_scheduler_says_so(admin_client: Client, task: PeriodicTask) -> None:
    [message] = messages_of(admin_client.post(run_now_url(task), follow=True))
    assert message.startswith("No scheduler has reported in the last 5 s, so nothing runs alpha")
    assert "expires" in message


def test_run_now_of_a_running_task_says_it_is_not_started_again(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    scheduler.tasks["alpha"].running = True
    publish(scheduler)
    [message] = messages_of(admin_client.post(run_now_url(task), follow=True))
    assert message == "Running now, so not started again (runs never overlap): alpha."
    assert not RunRequest.objects.exists()


def test_the_run_now_action_queues_each_task(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    other = PeriodicTask.objects.create(name="beta", function=HEARTBEAT, interval_seconds=9)
    scheduler.add_task("beta", job, 9)
    publish(scheduler)
    data = {"action": "run_now", "_selected_action": [str(task.pk), str(other.pk)]}
    [message] = messages_of(admin_client.post(CHANGELIST, data, follow=True))
    assert message.endswith("to run alpha, beta; it has not reported the start yet.")
    assert set(RunRequest.objects.values_list("task__name", flat=True)) == {"alpha", "beta"}


def test_run_now_needs_a_post(admin_client: Client, task: PeriodicTask) -> None:
    assert admin_client.get(run_now_url(task)).status_code == 405
    assert not RunRequest.objects.exists()


def test_run_now_needs_the_csrf_token(task: PeriodicTask) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert client.post(run_now_url(task)).status_code == 403
    assert not RunRequest.objects.exists()
    change = reverse("admin:autosched_periodictask_change", args=[task.pk])
    token = client.get(change).context["csrf_token"]
    assert client.post(run_now_url(task), {"csrfmiddlewaretoken": token}).status_code == 302
    assert RunRequest.objects.count() == 1


def test_run_now_needs_its_permission(client: Client, task: PeriodicTask) -> None:
    staff(client, "view_periodictask", "change_periodictask")
    assert client.post(run_now_url(task)).status_code == 403
    content = client.get(CHANGELIST).content.decode()
    assert "run_now" not in content  # the action is not offered
    client.post(CHANGELIST, {"action": "run_now", "_selected_action": [str(task.pk)]})
    change = reverse("admin:autosched_periodictask_change", args=[task.pk])
    assert "autosched-run-now" not in client.get(change).content.decode()
    assert not RunRequest.objects.exists()


def test_run_now_with_its_permission(client: Client, task: PeriodicTask) -> None:
    staff(client, "view_periodictask", "run_periodictask")
    change = reverse("admin:autosched_periodictask_change", args=[task.pk])
    assert 'id="autosched-run-now"' in client.get(change).content.decode()
    assert client.post(run_now_url(task)).status_code == 302
    assert RunRequest.objects.get().requested_by == "staff"


def test_run_now_of_a_missing_task_is_404(admin_client: Client) -> None:
    url = reverse("admin:autosched_periodictask_run_now", args=[999999])
    assert admin_client.post(url).status_code == 404


def test_run_now_reports_the_start_once_the_scheduler_does(
    admin_client: Client,
    task: PeriodicTask,
    scheduler: Scheduler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PeriodicTaskAdmin, "run_now_wait", 5.0)
    publish(scheduler)
    queued = threading.Event()
    queue = PeriodicTaskAdmin._queue

    def queue_and_tell(self: PeriodicTaskAdmin, *args: Any) -> str:
        names = queue(self, *args)
        queued.set()
        return names

    monkeypatch.setattr(PeriodicTaskAdmin, "_queue", queue_and_tell)

    def scheduler_runs_it() -> None:
        # What runscheduler does on its next sync: claim, run, publish.
        queued.wait(5)
        asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))
        publish(scheduler)

    runner = threading.Thread(target=scheduler_runs_it)
    runner.start()
    try:
        response = admin_client.post(run_now_url(task), follow=True)
    finally:
        runner.join()
    [message] = messages_of(response)
    assert message.startswith("Started on ")
    assert message.endswith(": alpha.")
    assert "0 s ago" in response.content.decode()


def test_run_now_of_a_task_the_scheduler_has_not_loaded(
    admin_client: Client, task: PeriodicTask
) -> None:
    publish(Scheduler())
    [message] = messages_of(admin_client.post(run_now_url(task), follow=True))
    assert message == "Not loaded by the scheduler (see its warnings), so not run: alpha."
    assert not RunRequest.objects.exists()


def test_the_list_still_works_when_the_cache_is_down(
    admin_client: Client, task: PeriodicTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache server down")

    monkeypatch.setattr(FileBasedCache, "get_many", broken)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert "Cannot read the live status from cache &#x27;default&#x27;" in response.content.decode()
    assert admin_client.get(STATUS).json()["alive"] is False
