"""The function bench/restart.py's autosched processes run; this module is also their Django app."""

from __future__ import annotations

import os
import time
from datetime import datetime

import autosched


@autosched.register
def record(scheduled_at: datetime) -> None:
    """Append this run's start and its slot (epoch seconds) to $BENCH_RUNS_FILE."""
    line = f"{time.time():.6f} {scheduled_at.timestamp():.6f}\n"
    with open(os.environ["BENCH_RUNS_FILE"], "a", encoding="ascii") as runs:
        runs.write(line)
