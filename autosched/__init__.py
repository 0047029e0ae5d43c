"""autosched: admin-driven interval scheduling for Django, on a precise asyncio core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autosched.scheduler import (
    ScheduledTask,
    Scheduler,
    next_run_after_last,
    next_slots,
    setup_tasks_from_config,
)

if TYPE_CHECKING:
    from autosched.registry import register

__all__ = [
    "ScheduledTask",
    "Scheduler",
    "next_run_after_last",
    "next_slots",
    "register",
    "setup_tasks_from_config",
]
__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> Any:
    # Loaded on first use so that `import autosched` stays cheap and free of Django.
    if name == "register":
        from autosched.registry import register

        return register
    raise AttributeError(f"module 'autosched' has no attribute {name!r}")
