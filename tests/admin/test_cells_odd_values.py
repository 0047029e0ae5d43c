"""Status cells for values a scheduler or worker never writes: said plainly, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from autosched.admin.cells import render_cells
from autosched.models import PeriodicTask
from autosched.status import task_state
from tests.admin.test_cells import NOW, reported


@pytest.fixture
def task() -> PeriodicTask:
    return PeriodicTask(name="alpha", function="x.y", interval_seconds=60, enabled=True)


def test_an_unknown_outcome_shows_the_unknown_icon_not_the_ok_one(task: PeriodicTask) -> None:
    status = reported(
        task,
        last_run=(NOW - timedelta(seconds=3)).isoformat(),
        last_outcome="exploded",
        run_count=1,
    )
    cells = render_cells(task, status, live=True, now=NOW)
    assert "✓" not in cells.last_run
    assert '<span class="autosched-outcome autosched-unknown">' in cells.last_run
    assert "?" in cells.last_run
    assert "exploded" in cells.last_run
    assert task_state(status) == "unknown"
    assert cells.state == "unknown"


def test_a_known_outcome_keeps_its_icon(task: PeriodicTask) -> None:
    for outcome, icon in (("ok", "✓"), ("error", "✗"), ("cancelled", "⊘"), ("timeout", "✗")):
        status = reported(
            task,
            last_run=(NOW - timedelta(seconds=3)).isoformat(),
            last_outcome=outcome,
            run_count=1,
        )
        assert icon in render_cells(task, status, live=True, now=NOW).last_run


@pytest.mark.django_db
def test_the_list_shows_the_start_of_megabytes_of_kwargs(admin_client: Client) -> None:
    PeriodicTask.objects.create(
        name="big",
        function="tests.testapp.tasks.greet",
        interval_seconds=60,
        kwargs={"who": "x" * 5_000_000},
    )
    response = admin_client.get(reverse("admin:autosched_periodictask_changelist"))
    assert response.status_code == 200
    assert len(response.content) < 100_000
    assert "who=&#x27;xxxxxxxx" in response.content.decode()
