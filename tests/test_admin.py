from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from autosched.models import PeriodicTask

pytestmark = pytest.mark.django_db

HEARTBEAT = "tests.testapp.tasks.heartbeat"
NO_DEFAULT = "tests.testapp.tasks.no_default"
GONE = "gone.module.func"
CHANGELIST = reverse("admin:autosched_periodictask_changelist")
ADD = reverse("admin:autosched_periodictask_add")


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


def form_data(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "new",
        "function": HEARTBEAT,
        "interval_seconds": "60",
        "enabled": "on",
        "description": "",
    }
    data.update(fields)
    return data


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "expected the form again, with errors"
    return dict(response.context["adminform"].form.errors)


def test_the_list_shows_each_column(admin_client: Client, rows: dict[str, PeriodicTask]) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    for text in ("alpha", HEARTBEAT, "every 5 minutes", "every 1 minute 30 seconds", "every hour"):
        assert text in content
    assert 'name="form-0-enabled"' in content
    assert 'name="form-0-interval_seconds"' in content


def test_the_list_marks_rows_whose_function_is_not_registered(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    content = admin_client.get(CHANGELIST).content.decode()
    assert content.count("⚠ not registered") == 1
    assert f"{GONE} <strong" in content


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
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-1", "Ensure this value is greater than or equal to 1."),
        ("1.5", "Enter a whole number."),
        ("31536001", "Ensure this value is less than or equal to 31536000."),
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


def test_the_form_offers_only_registered_functions(admin_client: Client) -> None:
    form = admin_client.get(ADD).context["adminform"].form
    offered = [value for value, _ in form.fields["function"].choices if value]
    assert offered == [
        "tests.testapp.tasks.async_heartbeat",
        "tests.testapp.tasks.async_no_default",
        "tests.testapp.tasks.failing",
        HEARTBEAT,
        NO_DEFAULT,
    ]


def test_the_form_adds_a_task(admin_client: Client) -> None:
    response = admin_client.post(ADD, form_data(description="Checks the docs."))
    assert response.status_code == 302
    task = PeriodicTask.objects.get(name="new")
    assert (task.function, task.interval_seconds, task.description) == (
        HEARTBEAT,
        60,
        "Checks the docs.",
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-1", "Ensure this value is greater than or equal to 1."),
        ("1.5", "Enter a whole number."),
        ("31536001", "Ensure this value is less than or equal to 31536000."),
        ("", "This field is required."),
    ],
)
def test_the_form_rejects_a_bad_interval(admin_client: Client, bad: str, message: str) -> None:
    errors = errors_of(admin_client.post(ADD, form_data(interval_seconds=bad)))
    assert list(errors) == ["interval_seconds"]
    assert errors["interval_seconds"][0].startswith(message)
    assert not PeriodicTask.objects.filter(name="new").exists()


def test_the_form_rejects_a_duplicate_name(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    errors = errors_of(admin_client.post(ADD, form_data(name="alpha")))
    assert errors == {"name": ["Periodic task with this Name already exists."]}


def test_the_form_rejects_an_unregistered_function(admin_client: Client) -> None:
    errors = errors_of(admin_client.post(ADD, form_data(function=GONE)))
    assert errors == {
        "function": [f"Select a valid choice. {GONE} is not one of the available choices."]
    }


def test_editing_a_row_whose_function_is_gone_shows_it_marked(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    url = reverse("admin:autosched_periodictask_change", args=[rows["dead"].pk])
    form = admin_client.get(url).context["adminform"].form
    assert (GONE, f"{GONE} (⚠ not registered)") in form.fields["function"].choices
    assert form.initial["function"] == GONE


def test_a_row_whose_function_is_gone_cannot_be_saved_unchanged(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    url = reverse("admin:autosched_periodictask_change", args=[rows["dead"].pk])
    errors = errors_of(admin_client.post(url, form_data(name="dead", function=GONE)))
    assert list(errors) == ["function"]
    assert errors["function"][0].startswith(f"{GONE} is not a registered function.")


def test_a_row_whose_function_is_gone_saves_once_repointed(
    admin_client: Client, rows: dict[str, PeriodicTask]
) -> None:
    url = reverse("admin:autosched_periodictask_change", args=[rows["dead"].pk])
    assert admin_client.post(url, form_data(name="dead", function=NO_DEFAULT)).status_code == 302
    rows["dead"].refresh_from_db()
    assert rows["dead"].function == NO_DEFAULT


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
