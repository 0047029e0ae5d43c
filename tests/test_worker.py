"""Everything Django Tasks: the task that runs a registered function on a worker; backends."""

from __future__ import annotations

from typing import Any

import pytest

from autosched.worker import backend_aliases
from tests.tasks_backend import IMMEDIATE, needs_tasks


@pytest.fixture(autouse=True)
def immediate_backend(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@needs_tasks
def test_worker_refuses_an_unregistered_key() -> None:
    from autosched.worker import run_periodic_task

    with pytest.raises(LookupError, match=r"'os\.system' is not a registered function"):
        run_periodic_task.call("os.system", "evil")


def test_backend_aliases_come_from_the_tasks_setting(settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "other": IMMEDIATE["default"]}
    assert backend_aliases() == ["default", "other"]
    del settings.TASKS
    assert backend_aliases() == ["default"]
