"""Each function appends ``name monotonic_time`` to the file named by AUTOSCHED_PROC_LOG.

``time.monotonic()`` is one system-wide clock on Linux, so the test process can compare the
times with its own. No defaults: the tests create the rows they need.
"""

from __future__ import annotations

import os
import time

import autosched


def _record(name: str) -> None:
    with open(os.environ["AUTOSCHED_PROC_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{name} {time.monotonic()}\n")


@autosched.register
def tick() -> None:
    """Record a run of tick."""
    _record("tick")


@autosched.register
def tock() -> None:
    """Record a run of tock."""
    _record("tock")


@autosched.register
def slow() -> None:
    """Record a start, then take a long time (to test stopping with a run in flight)."""
    _record("slow")
    time.sleep(60)
