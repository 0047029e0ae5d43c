"""The asyncio scheduler core: interval tasks on a drift-free grid. Imports only the stdlib.

``Scheduler`` decides when runs happen (``scheduler.py``), ``runs.py`` how one run happens,
``task.py`` what a task and its in-memory run state are, ``grid.py`` which slot a task waits
for, ``slots.py`` where slots fall on the clock (in a time zone too), ``validation.py`` what
input is refused, ``errors.py`` how a run's error is said, and ``setup.py`` adding tasks from
a dict.
"""

from __future__ import annotations

from autosched.scheduler.errors import AlreadyReported, GateClosed
from autosched.scheduler.runs import (
    RUN_THREAD_PREFIX,
    RunEvent,
    RunListener,
    RunObserver,
    current_slot,
)
from autosched.scheduler.scheduler import CANCEL_WAIT, Scheduler
from autosched.scheduler.setup import setup_tasks_from_config
from autosched.scheduler.slots import next_run_after_last, next_slots
from autosched.scheduler.task import Outcome, ScheduledTask, returns_coroutine
from autosched.scheduler.validation import (
    MAX_INTERVAL_SECONDS,
    MIN_INTERVAL_SECONDS,
    DuplicateTaskError,
    TaskNotFoundError,
    TaskTypeError,
    TimezoneError,
)

__all__ = [
    "CANCEL_WAIT",
    "MAX_INTERVAL_SECONDS",
    "MIN_INTERVAL_SECONDS",
    "RUN_THREAD_PREFIX",
    "AlreadyReported",
    "DuplicateTaskError",
    "GateClosed",
    "Outcome",
    "RunEvent",
    "RunListener",
    "RunObserver",
    "ScheduledTask",
    "Scheduler",
    "TaskNotFoundError",
    "TaskTypeError",
    "TimezoneError",
    "current_slot",
    "next_run_after_last",
    "next_slots",
    "returns_coroutine",
    "setup_tasks_from_config",
]
