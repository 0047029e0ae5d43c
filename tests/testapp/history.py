"""A persisted run history, kept by the project: the README's recipe, tested as it is shown.

autosched keeps no run history (run state lives in memory); a project that wants one writes
its own model from the ``task_finished`` signal, and prunes it with a periodic task.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from tests.testapp.models import TaskRun

#: How long the history is kept.
KEEP = timedelta(days=30)


def record_run(
    sender: Any,
    name: str,
    started_at: datetime,
    outcome: str,
    duration: float,
    exception: BaseException | None,
    **kwargs: Any,
) -> None:
    """Write one row per finished run (connected to ``task_finished`` in ``AppConfig.ready``)."""
    error = "" if exception is None else f"{type(exception).__name__}: {exception}"
    TaskRun.objects.create(
        name=name, started_at=started_at, outcome=outcome, duration=duration, error=error[:2000]
    )


def prune_task_runs() -> None:
    """Delete the runs older than ``KEEP`` (register it to run, say, every hour)."""
    TaskRun.objects.filter(started_at__lt=timezone.now() - KEEP).delete()
