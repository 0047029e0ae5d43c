"""What ``runscheduler`` runs around the core: the sync, the lease, the status publisher, the
signal sender, Run now serving and shutdown. Imported only by the management commands (and
tests); the app's modules never import it.
"""

from __future__ import annotations

from autosched.runner.process import (
    FORCED_EXIT_STATUS,
    favour_the_loop,
    flush_logging,
    stop_on_signals,
    threads_blocking_exit,
)
from autosched.runner.runner import SchedulerRunner

__all__ = [
    "FORCED_EXIT_STATUS",
    "SchedulerRunner",
    "favour_the_loop",
    "flush_logging",
    "stop_on_signals",
    "threads_blocking_exit",
]
