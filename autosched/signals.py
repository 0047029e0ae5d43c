"""Django signals sent when a scheduled run starts and ends, for Sentry, metrics or audit logs.

``runscheduler`` sends both from one dedicated thread, in the order the runs started and
ended, never from the event loop (see ``autosched.runner.signal_sender``): a receiver may
block or use the ORM without delaying any run. A receiver that raises is logged and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

__all__ = ["send_robustly", "task_finished", "task_started"]

logger = logging.getLogger("autosched")

#: Sent when a run starts, with ``name`` (the task's name) and ``started_at`` (aware UTC).
task_started = Signal()
#: Sent when a run ends, with ``name``, ``started_at``, ``outcome`` ("ok", "error", "timeout"
#: or "cancelled"), ``duration`` (seconds) and ``exception`` (the exception, or None). On a
#: worker, a refusal before the call (``LookupError``, ``KwargsError``) is an "error" too, and
#: a run whose worker was killed is sent by the row's next worker run, with a ``WorkerLost``.
task_finished = Signal()


def send_robustly(signal: Signal, sender: object, **kwargs: Any) -> None:
    """Send ``signal`` about task ``kwargs["name"]``; a receiver that raises is logged."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, BaseException):
            logger.error(
                "Receiver %r of %s failed for task %r.",
                receiver,
                "task_started" if signal is task_started else "task_finished",
                kwargs["name"],
                exc_info=result,
            )
