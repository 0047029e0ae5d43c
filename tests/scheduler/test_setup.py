"""setup_tasks_from_config: several tasks from a dict, all or none."""

from __future__ import annotations

import pytest

from autosched import Scheduler, setup_tasks_from_config
from tests.scheduler.helpers import noop


def test_setup_tasks_from_config_adds_every_task() -> None:
    scheduler = Scheduler()
    setup_tasks_from_config(
        scheduler,
        {
            "a": {"function": noop, "interval": 300},
            "b": {"function": noop, "interval": 60, "enabled": False},
        },
    )
    assert scheduler.tasks["a"].interval_seconds == 300
    assert scheduler.tasks["a"].enabled is True
    assert scheduler.tasks["b"].enabled is False


@pytest.mark.parametrize(
    ("entry", "mentions"),
    [
        ({"function": noop}, "missing key(s) ['interval']"),
        ({"function": noop, "interval": 5, "intervall": 5}, "unknown key(s) ['intervall']"),
        ({"function": noop, "interval": 0}, "got 0"),
        ({"function": 5, "interval": 5}, "got 5"),
        ({"function": noop, "interval": 5, "enabled": "yes"}, "'yes'"),
        ("not a dict", "'not a dict'"),
    ],
)
def test_setup_tasks_from_config_adds_nothing_if_any_entry_is_bad(
    entry: object, mentions: str
) -> None:
    scheduler = Scheduler()
    config = {"good": {"function": noop, "interval": 5}, "bad": entry}
    with pytest.raises(ValueError) as info:
        setup_tasks_from_config(scheduler, config)  # type: ignore[arg-type]
    assert mentions in str(info.value)
    assert "'bad'" in str(info.value)
    assert scheduler.tasks == {}
