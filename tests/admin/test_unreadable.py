"""The admin with a row Python cannot read back: listed as unreadable, viewable, deletable."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from autosched.models import PeriodicTask
from tests.unreadable import kinds, make_unreadable

pytestmark = pytest.mark.django_db

SYNC = "tests.testapp.tasks.no_default"
CHANGELIST = reverse("admin:autosched_periodictask_changelist")
KINDS = kinds(connection.vendor)


@pytest.fixture
def bad(request: pytest.FixtureRequest) -> PeriodicTask:
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="alpha", function=SYNC, interval_seconds=60)
    row = PeriodicTask.objects.create(name="bad", function=SYNC, interval_seconds=60)
    make_unreadable(row.pk, request.param)
    return row


@pytest.fixture
def viewer(client: Client) -> Client:
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_periodictask"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("bad", KINDS, indirect=True)
@pytest.mark.parametrize("who", ["admin_client", "viewer"])
def test_the_list_shows_an_unreadable_row_with_its_reason(
    bad: PeriodicTask, who: str, request: pytest.FixtureRequest
) -> None:
    client: Client = request.getfixturevalue(who)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "alpha" in content
    assert "⚠ unreadable" in content
    reason = PeriodicTask.objects.get(pk=bad.pk).unreadable
    assert reason
    assert escape(reason)[:60] in content


@pytest.mark.parametrize("bad", KINDS, indirect=True)
def test_the_change_page_shows_why_and_the_row_can_be_deleted(
    bad: PeriodicTask, admin_client: Client
) -> None:
    change = reverse("admin:autosched_periodictask_change", args=[bad.pk])
    response = admin_client.get(change)
    assert response.status_code == 200
    content = response.content.decode()
    assert "This row cannot be read" in content
    delete = reverse("admin:autosched_periodictask_delete", args=[bad.pk])
    assert admin_client.get(delete).status_code == 200
    response = admin_client.post(delete, {"post": "yes"})
    assert response.status_code == 302
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["alpha"]


@pytest.mark.parametrize("bad", ["deep_kwargs", "huge_number"], indirect=True)
def test_enabling_a_row_with_unreadable_kwargs_keeps_them_as_stored(bad: PeriodicTask) -> None:
    task = PeriodicTask.objects.get(pk=bad.pk)
    task.enabled = False
    task.save()
    assert PeriodicTask.objects.get(pk=bad.pk).enabled is False
    assert PeriodicTask.objects.get(pk=bad.pk).unreadable
