"""The admin's live status, Run now, and who may see and do what."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.cache.backends.filebased import FileBasedCache
from django.test import Client
from django.urls import reverse

from autosched.admin import PeriodicTaskAdmin
from autosched.models import PeriodicTask, RunRequest
from autosched.reports import Reporter
from autosched.runner.identity import Identity
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler
from autosched.status import read_status
from tests.tasks_backend import IMMEDIATE, needs_tasks
from tests.waiting import wait_until

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


def change_url(task: PeriodicTask) -> str:
    return reverse("admin:autosched_periodictask_change", args=[task.pk])


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
    for title in ("Task", "Schedule", "Enabled", "Running", "Next run", "Last run", "Runs"):
        assert f">{title}</" in content
    assert "Interval (seconds)" not in content
    next_run = cell(content, "next_run")
    assert re.fullmatch(
        r'in <time datetime="\S+" data-autosched-relative="in" [^>]*>1 min</time>', next_run
    )
    assert 'autosched-muted">never<' in cell(content, "last_run")


def cell(content: str, field: str, task: str = "alpha") -> str:
    """Return one status cell's HTML from a page."""
    found = re.search(
        rf'<div class="autosched-cell[^"]*" data-autosched-task="{task}" data-autosched-id="\d+" '
        rf'data-autosched-field="{field}">(.*?)</div>(?=</td>|</dd>)',
        content,
        re.S,
    )
    assert found, f"no {field} cell of {task}"
    return found.group(1)


def test_the_banner_names_a_live_scheduler(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Scheduler alive: 1 active on " in content
    assert "autosched-banner-alive" in content
    assert "autosched/status.js" in content


def test_the_banner_says_when_no_scheduler_reports(
    admin_client: Client, task: PeriodicTask
) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    assert "No scheduler has reported in the last 5 s." in content
    # The next run comes from the row, said to be expected; nothing else is pretended.
    assert 'class="autosched-expected"' in cell(content, "next_run")
    assert "expected in <time" in cell(content, "next_run")
    assert cell(content, "last_run") == ""


def test_a_failing_task_is_marked_and_its_error_shown_without_hovering(
    admin_client: Client, task: PeriodicTask
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("alpha", fail, 60)
    asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))
    publish(scheduler)
    last_run = cell(admin_client.get(CHANGELIST).content.decode(), "last_run")
    assert 'class="autosched-outcome autosched-failing"' in last_run
    assert "✗</span> failed</span>" in last_run
    assert '<div class="autosched-error-text">RuntimeError: boom &lt;b&gt;</div>' in last_run


def test_the_change_page_shows_the_last_error_with_its_traceback(
    admin_client: Client, task: PeriodicTask
) -> None:
    scheduler = Scheduler()
    scheduler.add_task("alpha", fail, 60)
    publisher = StatusPublisher(scheduler)
    scheduler.add_listener(publisher._on_run)
    asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))
    publisher.publish()
    content = admin_client.get(change_url(task)).content.decode()
    assert "Last error" in content
    traceback = re.search(r'<pre class="autosched-traceback">(.*?)</pre>', content, re.S)
    assert traceback
    assert traceback.group(1).startswith("Traceback (most recent call last):")
    assert "autosched/scheduler" not in traceback.group(1)  # from the task's own frame
    assert "raise RuntimeError(&quot;boom &lt;b&gt;&quot;)" in traceback.group(1)
    assert "1 run(s), 1 failed, 0 skipped" in content


def test_the_change_page_shows_the_recent_runs(admin_client: Client, task: PeriodicTask) -> None:
    scheduler = Scheduler()
    scheduler.add_task("alpha", fail, 60)
    publisher = StatusPublisher(scheduler)
    scheduler.add_listener(publisher._on_run)
    for _ in range(3):
        asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))
    publisher.publish()
    content = admin_client.get(change_url(task)).content.decode()
    assert "Recent runs" in content
    rows = re.findall(r'<tr class="autosched-run-error">(.*?)</tr>', content, re.S)
    assert len(rows) == 3
    assert "✗</span> failed" in rows[0]
    assert "RuntimeError: boom &lt;b&gt;" in rows[0]
    assert " UTC</td>" in rows[0]


def test_the_history_button_says_it_is_the_change_history(
    admin_client: Client, task: PeriodicTask
) -> None:
    content = admin_client.get(change_url(task)).content.decode()
    tools = re.search(r'<ul class="object-tools">(.*?)</ul>', content, re.S)
    assert tools
    assert ">Change history</a>" in tools.group(1)
    assert 'id="autosched-run-now">Run now</button>' in tools.group(1)  # beside it


def test_the_last_known_status_stays_greyed_after_the_scheduler_stops(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))
    publisher = StatusPublisher(scheduler, every=3600)
    publisher.start()
    wait_until(lambda: read_status()["alive"], "the first snapshot")
    publisher.stop()
    content = admin_client.get(CHANGELIST).content.decode()
    assert "No scheduler has reported in the last 5 s." in content
    assert "Showing the last known status, as of " in content
    assert "autosched-banner-stale" in content
    last_run = cell(content, "last_run")
    assert last_run.startswith('<span class="autosched-stale" title="As of ')
    assert "ok</span>" in last_run
    assert "expected in" in cell(content, "next_run")  # from the row, not the stale status


def test_a_saved_edit_shows_its_next_run_at_once(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)  # the scheduler still has the old interval, 60 s
    PeriodicTask.objects.filter(pk=task.pk).update(interval_seconds=900)
    task.refresh_from_db()
    content = admin_client.get(CHANGELIST).content.decode()
    assert '<div class="autosched-cell autosched-pending"' in content
    next_run = cell(content, "next_run")
    assert "expected in" in next_run
    expected = task.expected_next_run()
    assert expected is not None
    assert f'datetime="{expected.isoformat()}"' in next_run


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
    assert ">0 s</time> ago" in response.content.decode()


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


# Truthful when it cannot know -------------------------------------------------------------

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def test_a_process_local_cache_says_live_status_is_unavailable_and_why(
    admin_client: Client, task: PeriodicTask, settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "local": LOCMEM}
    settings.AUTOSCHED_STATUS_CACHE = "local"
    content = admin_client.get(CHANGELIST).content.decode()
    assert "autosched-banner-unavailable" in content
    assert "Live status is unavailable: the status cache &#x27;local&#x27; (LocMemCache)" in content
    assert "(autosched.W002)" in content
    assert "No scheduler has reported" not in content


def test_run_now_with_a_process_local_cache_says_it_was_queued(
    admin_client: Client, task: PeriodicTask, settings: Any
) -> None:
    settings.CACHES = {**settings.CACHES, "local": LOCMEM}
    settings.AUTOSCHED_STATUS_CACHE = "local"
    [message] = messages_of(admin_client.post(run_now_url(task), follow=True))
    assert message.startswith("Queued a run of alpha for the scheduler, which starts it within")
    assert "nothing runs" not in message
    assert RunRequest.objects.get().task == task


def test_the_banner_lists_the_standbys(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    publish(scheduler)
    standby = StatusPublisher(Scheduler(), identity=Identity(host="web-2", pid=77, token="t"))
    standby.role = lambda: "standby"
    standby.publish()
    content = admin_client.get(CHANGELIST).content.decode()
    assert re.search(
        r"Scheduler alive: 1 active on \S+ \(pid \d+\) since [^;]+; .*"
        r" 1 standby on web-2 \(pid 77\)\.",
        content,
    )


def broken_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis://secret-host:6379 refused")

    monkeypatch.setattr(FileBasedCache, "get_many", broken)


def test_view_only_staff_never_see_the_caches_error(
    client: Client, task: PeriodicTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(client, "view_periodictask")
    broken_cache(monkeypatch)
    content = client.get(CHANGELIST).content.decode()
    assert "The live status cannot be read right now." in content
    assert "secret-host" not in content
    assert "secret-host" not in client.get(STATUS).content.decode()


def test_those_who_can_change_tasks_see_the_caches_error(
    admin_client: Client, task: PeriodicTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_cache(monkeypatch)
    assert "secret-host" in admin_client.get(CHANGELIST).content.decode()


# The outcome filter ------------------------------------------------------------------------


def test_the_outcome_filter_finds_failing_running_and_never_run_tasks(
    admin_client: Client, task: PeriodicTask
) -> None:
    for name in ("failing", "running", "fresh", "fine"):
        PeriodicTask.objects.create(name=name, function=HEARTBEAT, interval_seconds=60)
    scheduler = Scheduler()
    scheduler.add_task("failing", fail, 60)
    for name in ("running", "fresh", "fine"):
        scheduler.add_task(name, job, 60)
    asyncio.run(scheduler.run_task(scheduler.tasks["failing"]))
    asyncio.run(scheduler.run_task(scheduler.tasks["fine"]))
    scheduler.tasks["running"].running = True
    publish(scheduler)

    def listed(outcome: str) -> list[str]:
        response = admin_client.get(CHANGELIST, {"outcome": outcome})
        return [row.name for row in response.context["cl"].result_list]

    assert listed("failing") == ["failing"]
    assert listed("running") == ["running"]
    assert listed("never") == ["fresh"]  # alpha is not loaded: in none of them
    content = admin_client.get(CHANGELIST).content.decode()
    assert "By outcome" in content
    for choice in ("Failing", "Running", "Never ran"):
        assert f">{choice}</a>" in content


def test_the_banner_comes_after_the_object_tools(admin_client: Client, task: PeriodicTask) -> None:
    # On Django 5.2 the tools float up from where they are: before the banner they sat on it.
    for url in (CHANGELIST, change_url(task)):
        content = admin_client.get(url).content.decode()
        assert content.index('<ul class="object-tools">') < content.index('id="autosched-banner"')


def test_the_action_button_says_apply(admin_client: Client, task: PeriodicTask) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    assert re.search(r'<button type="submit" class="button" title="[^"]+" name="index"', content)
    assert ">Apply</button>" in content
    assert ">Run</button>" not in content


def report_failure(row_id: int, name: str, host: str = "w2") -> None:
    started = datetime.now(UTC) - timedelta(seconds=3)
    Reporter().finished(
        row_id,
        name,
        slot=started.isoformat(),
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        scheduled_at=None,
        outcome="error",
        error="ValueError: bad input",
        host=host,
        pid=9,
    )


def test_a_worker_rows_failed_run_shows_beside_its_ok_enqueue(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler
) -> None:
    PeriodicTask.objects.filter(pk=task.pk).update(run_on="worker")
    asyncio.run(scheduler.run_task(scheduler.tasks["alpha"]))  # the enqueue: ok
    report_failure(task.pk, "alpha")
    StatusPublisher(scheduler, worker_rows=lambda: {"alpha": task.pk}).publish()
    content = admin_client.get(CHANGELIST).content.decode()
    last_run = cell(content, "last_run")
    assert "✗</span> failed</span>" in last_run
    assert "on host w2, pid 9" in last_run
    assert '<div class="autosched-error-text">ValueError: bad input</div>' in last_run
    assert re.search(
        r'<div class="autosched-small">enqueued <time datetime="[^"]+" '
        r'data-autosched-relative="ago" title="[^"]+">0 s</time> ago</div>',
        last_run,
    ), last_run  # its time counts up in the browser
    assert cell(content, "runs").startswith("1 ")  # the worker's run, not the enqueue
    page = admin_client.get(change_url(task)).content.decode()
    assert "Runs on workers" in page
    assert "1 reported, 1 failed" in page
    assert "1 enqueued, 0 failed, 0 skipped" in page
    assert "Last error on a worker" in page


@needs_tasks
def test_a_worker_that_lacks_the_function_turns_the_rows_last_ok_into_failing(
    admin_client: Client, task: PeriodicTask, scheduler: Scheduler, settings: Any
) -> None:
    from autosched.enqueue import RunToEnqueue
    from autosched.worker import run_periodic_task

    settings.TASKS = IMMEDIATE
    PeriodicTask.objects.filter(pk=task.pk).update(run_on="worker")
    slot = datetime.now(UTC).isoformat()
    args = RunToEnqueue(HEARTBEAT, "alpha", scheduled_at=slot, row_id=task.pk).args
    run_periodic_task.call(*args)  # the last run went well
    publisher = StatusPublisher(scheduler, worker_rows=lambda: {"alpha": task.pk})
    publisher.publish()
    assert "✓" in cell(admin_client.get(CHANGELIST).content.decode(), "last_run")
    gone = "tests.testapp.tasks.removed_since"  # a deploy reached the scheduler first
    args = RunToEnqueue(gone, "alpha", scheduled_at=slot, row_id=task.pk).args
    with pytest.raises(LookupError):
        run_periodic_task.call(*args)
    publisher.publish()
    response = admin_client.get(CHANGELIST, {"outcome": "failing"})
    assert [row.name for row in response.context["cl"].result_list] == ["alpha"]
    last_run = cell(response.content.decode(), "last_run")
    assert "✗</span> failed</span>" in last_run
    assert "LookupError: Periodic task &#x27;alpha&#x27;: &#x27;tests.testapp.tasks.removed" in (
        last_run
    )
