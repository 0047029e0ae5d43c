"""Input that used to answer HTTP 500, or a wrong second error, gets one clear message."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from autosched.forms import PeriodicTaskForm
from autosched.models import PeriodicTask

pytestmark = pytest.mark.django_db

ADD = reverse("admin:autosched_periodictask_add")
GREET = "tests.testapp.tasks.greet"


def posted(**fields: Any) -> dict[str, Any]:
    return {
        "name": "g",
        "function": GREET,
        "interval_seconds": "1m",
        "offset_seconds": "",
        "enabled": "on",
        "kwargs": '{"who": "ann"}',
        "run_on": "process",
        "tasks_backend": "default",
        "queue_name": "default",
        "priority": "0",
        **fields,
    }


def nested(depth: int) -> str:
    return '{"who": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ('{"who": NaN}', "not a number"),
        ('{"who": Infinity}', "not a number"),
        ('{"who": -Infinity}', "not a number"),
        ('{"who": 1e400}', "too large"),
        ('{"who": "a\\u0000b"}', "NUL"),
        ('{"a\\u0000": 1}', "NUL"),
        (nested(960), "nested"),
        ('{"who": 1' + "0" * 5000 + "}", "Enter a valid JSON"),
    ],
)
def test_the_add_form_refuses_kwargs_the_database_or_python_cannot_keep(
    admin_client: Client, kwargs: str, problem: str
) -> None:
    response = admin_client.post(ADD, posted(kwargs=kwargs))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["kwargs"]
    assert problem in str(errors["kwargs"])
    assert not PeriodicTask.objects.filter(name="g").exists()


def test_kwargs_nested_within_the_limit_are_saved(admin_client: Client) -> None:
    response = admin_client.post(ADD, posted(kwargs=nested(99)))
    assert response.status_code == 302
    assert PeriodicTask.objects.get(name="g").kwargs == {"who": eval_nested(99)}


def eval_nested(depth: int) -> Any:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("name", ["", "x" * 300])
def test_a_bad_name_gets_one_error(name: str) -> None:
    form = PeriodicTaskForm(posted(name=name))
    assert not form.is_valid()
    assert len(form.errors["name"]) == 1
    assert "visible text" not in str(form.errors["name"])


def test_a_json_string_is_said_as_a_string_not_a_python_type() -> None:
    form = PeriodicTaskForm(posted(kwargs='"ann"'))
    assert not form.is_valid()
    message = str(form.errors["kwargs"])
    assert "JSONString" not in message
    assert "not a string" in message
