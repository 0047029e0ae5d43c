"""The admin form: functions chosen from the registry, input checked, the run's target."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from autosched.forms import PeriodicTaskForm
from autosched.models import PeriodicTask
from tests.tasks_backend import IMMEDIATE, TASKS_MODULE, needs_tasks

pytestmark = pytest.mark.django_db

HEARTBEAT = "tests.testapp.tasks.heartbeat"
NO_DEFAULT = "tests.testapp.tasks.no_default"
GONE = "gone.module.func"
ADD = reverse("admin:autosched_periodictask_add")


@pytest.fixture
def rows() -> dict[str, PeriodicTask]:
    """A row, and one whose function is no longer registered."""
    PeriodicTask.objects.all().delete()
    return {
        "alpha": PeriodicTask.objects.create(
            name="alpha", function=HEARTBEAT, interval_seconds=300
        ),
        "dead": PeriodicTask.objects.create(name="dead", function=GONE, interval_seconds=3600),
    }


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


def test_the_form_offers_only_registered_functions(admin_client: Client) -> None:
    form = admin_client.get(ADD).context["adminform"].form
    offered = [value for value, _ in form.fields["function"].choices if value]
    assert offered == [
        "tests.testapp.tasks.async_heartbeat",
        "tests.testapp.tasks.async_no_default",
        "tests.testapp.tasks.failing",
        "tests.testapp.tasks.greet",
        HEARTBEAT,
        NO_DEFAULT,
        "tests.testapp.tasks.on_the_slot",
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
        ("0", 'Enter at least 1 second, e.g. "90", "90s", "15m", "1h 30m" or "2d".'),
        ("-1", 'Enter a span of time, e.g. "90", "90s", "15m", "1h 30m" or "2d".'),
        ("1.5", 'Enter a span of time, e.g. "90", "90s", "15m", "1h 30m" or "2d".'),
        ("1 fortnight", 'Enter a span of time, e.g. "90", "90s", "15m", "1h 30m" or "2d".'),
        ("366d", "Enter at most one year (365d, that is 31536000 seconds), e.g. "),
        ("31536001", "Enter at most one year (365d, that is 31536000 seconds), e.g. "),
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


def test_admin_form_offers_the_configured_backends(admin_client: Any, settings: Any) -> None:
    other = {**IMMEDIATE["default"], "QUEUES": ["default", "slow"]}
    settings.TASKS = {**IMMEDIATE, "other": other}
    add = reverse("admin:autosched_periodictask_add")
    content = admin_client.get(add).content.decode()
    assert '<option value="other">other</option>' in content
    data = {
        "name": "w",
        "function": NO_DEFAULT,
        "interval_seconds": "5",
        "enabled": "on",
        "run_on": "worker",
        "tasks_backend": "other",
        "queue_name": "slow",
        "priority": "-5",
        "description": "",
    }
    assert admin_client.post(add, data).status_code == 302
    task = PeriodicTask.objects.get(name="w")
    assert (task.run_on, task.tasks_backend, task.queue_name, task.priority) == (
        "worker",
        "other",
        "slow",
        -5,
    )


def test_admin_form_without_target_fields_keeps_the_defaults(admin_client: Any) -> None:
    add = reverse("admin:autosched_periodictask_add")
    data = {"name": "p", "function": NO_DEFAULT, "interval_seconds": "5", "description": ""}
    assert admin_client.post(add, data).status_code == 302
    task = PeriodicTask.objects.get(name="p")
    assert (task.run_on, task.tasks_backend, task.priority) == ("process", "default", 0)


@pytest.mark.django_db
def test_the_form_takes_words_and_shows_them_back() -> None:
    data = {
        "name": "nightly",
        "function": NO_DEFAULT,
        "interval_seconds": "1d",
        "offset_seconds": "03:00",
        "enabled": "on",
        "kwargs": "{}",
        "run_on": "process",
    }
    form = PeriodicTaskForm(data)
    assert form.is_valid(), form.errors
    task = form.save()
    assert (task.interval_seconds, task.offset_seconds) == (86400, 10800)
    shown = PeriodicTaskForm(instance=task)
    assert 'value="1d"' in str(shown["interval_seconds"])
    assert 'value="03:00"' in str(shown["offset_seconds"])


@pytest.mark.django_db
def test_the_form_refuses_a_bad_offset_with_examples() -> None:
    data = {"name": "t", "function": NO_DEFAULT, "interval_seconds": "1h", "offset_seconds": "soon"}
    form = PeriodicTaskForm({**data, "kwargs": "{}", "run_on": "process"})
    assert not form.is_valid()
    assert "03:00" in str(form.errors["offset_seconds"])
    form = PeriodicTaskForm(
        {**data, "offset_seconds": "2:00:00", "kwargs": "{}", "run_on": "process"}
    )
    assert not form.is_valid()
    assert "below the interval" in str(form.errors["offset_seconds"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ('{"whom": "ann"}', "unknown argument &#x27;whom&#x27;; it takes: who, times"),
        ("{}", "missing required argument &#x27;who&#x27;"),
        ('["ann"]', "must be a JSON object"),
        ('{"who": "ann", "scheduled_at": 1}', "is filled in with each run"),
        ("{who: ann}", "Enter a valid JSON."),
    ],
)
def test_the_form_checks_kwargs_against_the_function(kwargs: str, problem: str) -> None:
    data = {
        "name": "g",
        "function": "tests.testapp.tasks.greet",
        "interval_seconds": "1m",
        "kwargs": kwargs,
        "run_on": "process",
    }
    form = PeriodicTaskForm(data)
    assert not form.is_valid()
    assert problem in str(form.errors["kwargs"])


@pytest.mark.django_db
def test_the_form_saves_kwargs() -> None:
    data = {
        "name": "g",
        "function": "tests.testapp.tasks.greet",
        "interval_seconds": "1m",
        "kwargs": '{"who": "ann", "times": 2}',
        "run_on": "process",
    }
    form = PeriodicTaskForm(data)
    assert form.is_valid(), form.errors
    assert form.save().kwargs == {"who": "ann", "times": 2}


def test_a_posted_interval_is_shown_back_in_words_when_another_field_fails() -> None:
    form = PeriodicTaskForm(
        data={"name": "", "function": NO_DEFAULT, "interval_seconds": "900", "offset_seconds": "60"}
    )
    assert not form.is_valid()
    assert 'value="15m"' in str(form["interval_seconds"])
    assert 'value="00:01"' in str(form["offset_seconds"])


def test_a_bad_interval_is_shown_back_as_typed() -> None:
    form = PeriodicTaskForm(data={"name": "t", "function": NO_DEFAULT, "interval_seconds": "soon"})
    assert not form.is_valid()
    assert 'value="soon"' in str(form["interval_seconds"])


def test_the_labels_are_capitalised() -> None:
    form = PeriodicTaskForm()
    labels = [str(field.label) for field in form.fields.values()]
    assert labels == [label[:1].upper() + label[1:] for label in labels]


def worker_form(queue: str, backend: str = "default", priority: int = 0) -> PeriodicTaskForm:
    return PeriodicTaskForm(
        {
            "name": "w",
            "function": NO_DEFAULT,
            "interval_seconds": "5",
            "enabled": "on",
            "kwargs": "{}",
            "run_on": "worker",
            "tasks_backend": backend,
            "queue_name": queue,
            "priority": str(priority),
        }
    )


@needs_tasks
def test_the_form_refuses_a_queue_the_backend_does_not_serve(settings: Any) -> None:
    settings.TASKS = {"default": {**IMMEDIATE["default"], "QUEUES": ["default", "slow"]}}
    form = worker_form("fast")
    assert not form.is_valid()
    assert form.errors["queue_name"] == [
        "The Tasks backend 'default' serves no queue 'fast'; choose one of: default, slow "
        "(its QUEUES setting)."
    ]
    assert worker_form("slow").is_valid(), worker_form("slow").errors


@needs_tasks
def test_without_queues_a_backend_serves_only_the_default_queue(settings: Any) -> None:
    settings.TASKS = IMMEDIATE
    assert "queue_name" in worker_form("slow").errors
    assert worker_form("default").is_valid()


@needs_tasks
def test_an_empty_queues_list_lets_any_queue_through(settings: Any) -> None:
    settings.TASKS = {"default": {**IMMEDIATE["default"], "QUEUES": []}}
    assert worker_form("anything").is_valid()


@needs_tasks
def test_a_process_row_keeps_any_queue(settings: Any) -> None:
    settings.TASKS = IMMEDIATE
    form = worker_form("slow")
    form.data = {**form.data, "run_on": "process"}
    assert form.is_valid(), form.errors


@needs_tasks
def test_the_queue_message_is_translated(settings: Any) -> None:
    settings.TASKS = IMMEDIATE
    with translation.override("es"):
        message = worker_form("slow").errors["queue_name"][0]
    assert message.startswith("El backend de Tasks 'default' no atiende la cola 'slow'")


if TASKS_MODULE:
    from importlib import import_module

    _Immediate = import_module(f"{TASKS_MODULE}.backends.immediate").ImmediateBackend
else:  # Django 5.2 without the backport: the tests that use it are skipped
    _Immediate = object


class NoPriorities(_Immediate):  # type: ignore[misc,valid-type]
    """A backend that, like RQ's, takes no priority but 0."""

    supports_priority = False


@needs_tasks
def test_the_form_refuses_a_priority_the_backend_does_not_take(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "tests.test_forms.NoPriorities"}}
    form = worker_form("default", priority=5)
    assert form.errors["priority"] == [
        "The Tasks backend 'default' does not take priorities: it would refuse every run. "
        "Leave the priority at 0."
    ]
    assert worker_form("default", priority=0).is_valid()
    settings.TASKS = IMMEDIATE
    assert worker_form("default", priority=5).is_valid()


def daily(**fields: Any) -> dict[str, Any]:
    data = {
        "name": "report",
        "function": NO_DEFAULT,
        "interval_seconds": "1d",
        "offset_seconds": "09:00",
        "timezone": "Europe/Madrid",
        "enabled": "on",
        "kwargs": "{}",
        "run_on": "process",
    }
    return {**data, **fields}


@pytest.mark.django_db
def test_the_form_takes_a_zone_and_a_daily_time() -> None:
    form = PeriodicTaskForm(daily())
    assert form.is_valid(), form.errors
    task = form.save()
    assert (task.interval_seconds, task.offset_seconds, task.timezone) == (
        86400,
        32400,
        "Europe/Madrid",
    )
    shown = PeriodicTaskForm(instance=task)
    assert 'value="09:00"' in str(shown["offset_seconds"])
    assert 'value="Europe/Madrid"' in str(shown["timezone"])
    # Seconds are still read.
    assert PeriodicTaskForm(daily(name="other", offset_seconds="32400")).is_valid()


def test_the_zone_is_picked_from_a_searchable_list_of_every_zone() -> None:
    html = str(PeriodicTaskForm()["timezone"])
    assert 'list="autosched-zones"' in html
    options = re.findall(
        r'<option value="([^"]+)">', html.split('<datalist id="autosched-zones">')[1]
    )
    assert options == sorted(
        zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"}
    )
    assert "Europe/Madrid" in options


@pytest.mark.django_db
def test_a_weekly_row_takes_a_weekday_and_shows_it_back() -> None:
    form = PeriodicTaskForm(daily(interval_seconds="7d", offset_seconds="Mon 09:00"))
    assert form.is_valid(), form.errors
    task = form.save()
    assert task.offset_seconds == 4 * 86400 + 32400  # 1970-01-05 was the grid's first Monday
    assert task.schedule_display == "every Monday at 09:00 (Europe/Madrid)"
    assert 'value="Mon 09:00"' in str(PeriodicTaskForm(instance=task)["offset_seconds"])
    with translation.override("es"):
        assert 'value="lun 09:00"' in str(PeriodicTaskForm(instance=task)["offset_seconds"])


@pytest.mark.parametrize(
    ("fields", "field", "english", "spanish"),
    [
        (
            {"interval_seconds": "1h", "offset_seconds": ""},
            "timezone",
            "A time zone is only for an interval of whole days (1d, 7d, …), not 3600 seconds",
            "Una zona horaria es solo para un intervalo de días enteros (1d, 7d, …), no 3600",
        ),
        (
            {"timezone": "Europe/Madird"},
            "timezone",
            "Europe/Madird is not a time zone autosched knows",
            "Europe/Madird no es una zona horaria que autosched conozca",
        ),
        (
            {"offset_seconds": "Mon 09:00"},
            "offset_seconds",
            "A weekday is only for an interval of whole weeks (7d, 14d, …)",
            "Un día de la semana es solo para un intervalo de semanas enteras (7d, 14d, …)",
        ),
    ],
)
@pytest.mark.django_db
def test_the_form_refuses_what_a_zone_or_weekday_cannot_be(
    fields: dict[str, str], field: str, english: str, spanish: str
) -> None:
    form = PeriodicTaskForm(daily(**fields))
    assert not form.is_valid()
    assert form.errors[field][0].startswith(english)
    with translation.override("es"):
        form = PeriodicTaskForm(daily(**fields))
        assert not form.is_valid()
        assert form.errors[field][0].startswith(spanish)
