"""The periodic task admin: the list, its editable columns, actions, search and filters."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from autosched.models import PeriodicTask

pytestmark = pytest.mark.django_db

HEARTBEAT = "tests.testapp.tasks.heartbeat"
NO_DEFAULT = "tests.testapp.tasks.no_default"
GONE = "gone.module.func"
CHANGELIST = reverse("admin:autosched_periodictask_changelist")


@pytest.fixture
def rows() -> dict[str, PeriodicTask]:
    PeriodicTask.objects.all().delete()
    return {
        name: PeriodicTask.objects.create(
            name=name, function=function, interval_seconds=interval, enabled=enabled
        )
        for name, function, interval, enabled in [
            ("alpha", HEARTBEAT, 300, True),
            ("beta", NO_DEFAULT, 90, False),
            ("dead", GONE, 3600, True),
        ]
    }


def listed(client: Client, query: str = "") -> list[str]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return [task.name for task in response.context["cl"].result_list]


def test_the_list_shows_each_column(admin_client: Client, rows: dict[str, PeriodicTask]) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    for text in ("alpha", "every 5 minutes", "every 1 minute 30 seconds", "every hour"):
        assert text in content
    assert 'name="form-0-enabled"' in content
    assert 'name="form-0-interval_seconds"' in content


def test_the_interval_is_shown_as_typed_with_the_schedule_in_words_under_it(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    field = re.search(r'<td class="field-interval_seconds">(.*?)</td>', content, re.S)
    assert field
    assert 'value="5m"' in field.group(1)
    assert '<div class="autosched-words">every 5 minutes (at :' in field.group(1)
    assert 'aria-label="Interval"' in field.group(1)


def test_the_function_shows_under_the_name_only_when_it_differs(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    PeriodicTask.objects.create(name=NO_DEFAULT, function=NO_DEFAULT, interval_seconds=5)
    content = admin_client.get(CHANGELIST).content.decode()
    tasks = re.findall(r'<td class="field-task_display">(.*?)</td>', content, re.S)
    names = [re.search(r'class="autosched-name">(.*?)</a>', t) for t in tasks]
    by_name = {n.group(1).replace("<wbr>", ""): t for n, t in zip(names, tasks, strict=True) if n}
    function = 'class="autosched-function">tests.<wbr>testapp.<wbr>tasks.<wbr>heartbeat'
    assert function in by_name["alpha"]
    assert "autosched-function" not in by_name[NO_DEFAULT]


def test_the_list_shows_kwargs_compactly_under_the_name(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    PeriodicTask.objects.create(
        name="greet-ann", function="tests.testapp.tasks.greet", interval_seconds=60,
        kwargs={"who": "ann", "times": 2},
    )  # fmt: skip
    content = admin_client.get(CHANGELIST).content.decode()
    assert (
        '<div class="autosched-small autosched-kwargs">who=&#x27;ann&#x27;, times=2</div>'
        in content
    )


def test_the_list_marks_rows_whose_function_is_not_registered(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    assert content.count("⚠ not registered") == 1
    assert "gone.<wbr>module.<wbr>func</div>" in content


def test_view_only_staff_see_the_schedule_in_words(
    client: Client, rows: dict[str, PeriodicTask]
) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_periodictask"))
    client.force_login(viewer)
    content = client.get(CHANGELIST).content.decode()
    assert re.search(
        r'every 5 minutes \(at [^)]*\) <span class="autosched-small">\(5m\)</span>', content
    )
    assert ">Schedule</a>" in content


def list_edit(client: Client, task: PeriodicTask, interval: str, enabled: bool) -> Any:
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(task.pk),
        "form-0-interval_seconds": interval,
        "_save": "Save",
    }
    if enabled:
        data["form-0-enabled"] = "on"
    return client.post(CHANGELIST, data)


def test_the_list_disables_and_retimes_a_row(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    response = list_edit(admin_client, rows["alpha"], "45", enabled=False)
    assert response.status_code == 302
    rows["alpha"].refresh_from_db()
    assert (rows["alpha"].interval_seconds, rows["alpha"].enabled) == (45, False)


def test_the_list_can_disable_a_row_whose_function_is_gone(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    assert list_edit(admin_client, rows["dead"], "3600", enabled=False).status_code == 302
    rows["dead"].refresh_from_db()
    assert not rows["dead"].enabled


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0", "Enter at least 1 second, e.g. &quot;90&quot;"),
        ("-1", "Enter a span of time, e.g. &quot;90&quot;, &quot;90s&quot;, &quot;15m&quot;"),
        ("1.5", "Enter a span of time, e.g."),
        ("31536001", "Enter at most one year (365d, that is 31536000 seconds), e.g. "),
    ],
)
def test_the_list_rejects_a_bad_interval(
    admin_client: Client, rows: dict[str, PeriodicTask], bad: str, message: str
) -> None:
    response = list_edit(admin_client, rows["alpha"], bad, enabled=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    rows["alpha"].refresh_from_db()
    assert rows["alpha"].interval_seconds == 300


def run_action(client: Client, action: str, *tasks: PeriodicTask) -> list[str]:
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(task.pk) for task in tasks]},
        follow=True,
    )
    return [str(message) for message in response.context["messages"]]


def test_the_enable_action_enables_and_counts(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    before = rows["beta"].updated_at
    messages = run_action(admin_client, "enable_tasks", rows["alpha"], rows["beta"])
    assert messages == ["Enabled 1 task. 1 was already so."]
    rows["beta"].refresh_from_db()
    assert rows["beta"].enabled
    assert rows["beta"].updated_at > before


def test_the_disable_action_disables_and_counts(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    messages = run_action(admin_client, "disable_tasks", rows["alpha"], rows["dead"])
    assert messages == ["Disabled 2 tasks."]
    assert not PeriodicTask.objects.filter(enabled=True).exists()


def test_the_actions_need_the_change_permission(
    client: Client, rows: dict[str, PeriodicTask]
) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_periodictask"))
    client.force_login(viewer)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "enable_tasks" not in response.content.decode()
    run_action(client, "enable_tasks", rows["beta"])
    rows["beta"].refresh_from_db()
    assert not rows["beta"].enabled


def test_search_looks_in_name_function_and_description(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    PeriodicTask.objects.filter(name="beta").update(description="Nightly docs check")
    assert listed(admin_client, "?q=alph") == ["alpha"]
    assert listed(admin_client, "?q=gone.module") == ["dead"]
    assert listed(admin_client, "?q=nightly") == ["beta"]


def test_the_filters_narrow_the_list(admin_client: Client, rows: dict[str, PeriodicTask]) -> None:
    assert listed(admin_client, "?enabled__exact=0") == ["beta"]
    assert listed(admin_client, "?registered=no") == ["dead"]
    assert listed(admin_client, "?registered=yes") == ["alpha", "beta"]
    assert listed(admin_client, f"?function={NO_DEFAULT}") == ["beta"]
    assert listed(admin_client, "?registered=no&enabled__exact=0") == []


def test_admin_list_shows_where_runs_go(admin_client: Any) -> None:
    PeriodicTask.objects.create(name="p", function=NO_DEFAULT, interval_seconds=5)
    PeriodicTask.objects.create(
        name="w",
        function=NO_DEFAULT,
        interval_seconds=5,
        run_on="worker",
        queue_name="q",
        priority=3,
    )
    content = admin_client.get(reverse("admin:autosched_periodictask_changelist")).content
    assert content.decode().count("worker: default / q (priority 3)") == 1  # only the worker row


@pytest.fixture
def zoned() -> dict[str, PeriodicTask]:
    PeriodicTask.objects.all().delete()
    day = 86400
    return {
        name: PeriodicTask.objects.create(
            name=name,
            function=NO_DEFAULT,
            interval_seconds=interval,
            offset_seconds=offset,
            timezone=zone,
        )
        for name, interval, offset, zone in [
            ("daily", day, 32400, "Europe/Madrid"),
            ("weekly", 7 * day, 4 * day + 32400, "Europe/Madrid"),
            ("every-other", 2 * day, 32400, ""),
        ]
    }


def test_the_list_says_whole_day_schedules_with_their_zone(
    admin_client: Client, zoned: dict[str, PeriodicTask]
) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    words = re.findall(r'<div class="autosched-words">(.*?)</div>', content)
    assert words == [
        "every day at 09:00 (Europe/Madrid)",
        "every 2 days at 09:00 (UTC)",
        "every Monday at 09:00 (Europe/Madrid)",
    ]
    # The next run on the row's clock, UTC beside it (no scheduler: expected, from the row).
    clocks = re.findall(r'<div class="autosched-small autosched-clock">(.*?)</div>', content)
    said = [" ".join(unescape(re.sub(r"<[^>]+>", "", clock)).split()) for clock in clocks]
    assert len(said) == 3
    assert re.fullmatch(r"\w{3} \d+ \w{3} 09:00 CES?T · 0[78]:00 UTC", said[0])
    assert re.fullmatch(r"\w{3} \d+ \w{3} 09:00 UTC", said[1])  # a UTC row: said once


def test_the_task_page_says_the_schedule_and_takes_the_zone(
    admin_client: Client, zoned: dict[str, PeriodicTask]
) -> None:
    url = reverse("admin:autosched_periodictask_change", args=[zoned["weekly"].pk])
    content = admin_client.get(url).content.decode()
    assert "<dd>every Monday at 09:00 (Europe/Madrid)</dd>" in content
    assert 'value="Mon 09:00"' in content
    assert '<datalist id="autosched-zones">' in content
    with translation.override("es"):
        content = admin_client.get(url, headers={"accept-language": "es"}).content.decode()
    assert "<dd>cada lunes a las 09:00 (Europe/Madrid)</dd>" in content
    assert 'value="lun 09:00"' in content


def test_the_list_refuses_a_sub_day_interval_for_a_zoned_row(
    admin_client: Client, zoned: dict[str, PeriodicTask]
) -> None:
    # Not the database's constraint failing with a server error: the row's message.
    response = list_edit(admin_client, zoned["daily"], "1h", enabled=True)
    assert response.status_code == 200
    assert "A time zone is only for an interval of whole days" in response.content.decode()
    zoned["daily"].refresh_from_db()
    assert zoned["daily"].interval_seconds == 86400


def test_the_list_refuses_an_interval_not_above_the_offset(
    admin_client: Client, zoned: dict[str, PeriodicTask]
) -> None:
    # The offset is not in the list's form: the interval takes the message (was a 500).
    response = list_edit(admin_client, zoned["every-other"], "30m", enabled=True)
    assert response.status_code == 200
    assert "The offset must be below the interval (1800 s)" in response.content.decode()
