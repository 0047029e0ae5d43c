"""``setup_tasks_from_config``: add several tasks from a dict, all or none."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autosched.scheduler.validation import (
    DuplicateTaskError,
    TaskTypeError,
    check_func,
    check_interval,
    check_name,
)

if TYPE_CHECKING:
    from autosched.scheduler.scheduler import Scheduler

_CONFIG_KEYS = {"function", "interval", "enabled"}


def setup_tasks_from_config(scheduler: Scheduler, config: dict[str, dict[str, Any]]) -> None:
    """Add every task of ``config``; if any entry is bad, add none and raise naming it."""
    if not isinstance(config, dict):
        raise TaskTypeError(f"config must be a dict of task name to settings, got {config!r}.")
    checked: list[tuple[str, Callable[[], Any], int | float, bool]] = []
    for name, settings in config.items():
        check_name(name)
        if not isinstance(settings, dict):
            raise TaskTypeError(f"Task {name!r}: settings must be a dict, got {settings!r}.")
        unknown = set(settings) - _CONFIG_KEYS
        missing = {"function", "interval"} - set(settings)
        if unknown or missing:
            raise ValueError(
                f"Task {name!r}: unknown key(s) {sorted(unknown)}, missing key(s) "
                f"{sorted(missing)}; expected 'function', 'interval' and optional 'enabled'."
            )
        check_func(name, settings["function"])
        interval = check_interval(name, settings["interval"])
        enabled = settings.get("enabled", True)
        if not isinstance(enabled, bool):
            raise TaskTypeError(f"Task {name!r}: enabled must be True or False, got {enabled!r}.")
        checked.append((name, settings["function"], interval, enabled))
    # Under the scheduler's lock, so that no other thread can take a name between the check
    # for duplicates and the adds: all of them go in, or none.
    with scheduler.lock:
        for name, *_ in checked:
            if name in scheduler.tasks:
                raise DuplicateTaskError(f"A task named {name!r} already exists.")
        for name, func, interval, enabled in checked:
            scheduler.add_task(name, func, interval, enabled=enabled)
