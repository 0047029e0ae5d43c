"""Functions for the fault tests: each run appends ``name wall_time pid`` to AUTOSCHED_SCALE_LOG.

One ``write`` of one short line to a file opened for appending is atomic on Linux, so any
number of processes may record into one file.
"""

from __future__ import annotations

import os
import time

import autosched


def record(name: str) -> None:
    """Append one line saying that ``name`` ran now, in this process."""
    line = f"{name} {time.time():.6f} {os.getpid()}\n".encode()
    fd = os.open(os.environ["AUTOSCHED_SCALE_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@autosched.register
def alpha() -> None:
    """Record a run of alpha."""
    record("alpha")


@autosched.register
def beta() -> None:
    """Record a run of beta."""
    record("beta")


@autosched.register
def gamma() -> None:
    """Record a run of gamma."""
    record("gamma")


@autosched.register
def work() -> None:
    """Record a run of work (the enqueued function)."""
    record("work")


@autosched.register
def sleepy() -> None:
    """Record a start and an end two seconds apart."""
    record("sleepy-start")
    time.sleep(2)
    record("sleepy-end")


@autosched.register
def three_seconds() -> None:
    """Record a start and an end three seconds apart."""
    record("three-start")
    time.sleep(3)
    record("three-end")
