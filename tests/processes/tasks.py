"""The functions the real-process tests schedule; each run appends a line to a log.

The line is ``name monotonic_time pid``, appended to the file named by AUTOSCHED_PROCESS_LOG.
``time.monotonic()`` is one system-wide clock on Linux, so the test process can compare the
times with its own; one ``write`` of one short line to a file opened for appending is atomic,
so any number of processes may record into one file. No defaults: the tests create the rows
they need.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime

import autosched
from autosched.signals import task_finished


def record(name: str) -> None:
    """Append one line saying that ``name`` ran now, in this process."""
    line = f"{name} {time.monotonic():.6f} {os.getpid()}\n".encode()
    fd = os.open(os.environ["AUTOSCHED_PROCESS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@autosched.register
def tick() -> None:
    """Record a run of tick."""
    record("tick")


@autosched.register
def tock() -> None:
    """Record a run of tock."""
    record("tock")


@autosched.register
def slow() -> None:
    """Record a start, then take a long time (to test stopping with a run in flight)."""
    record("slow")
    time.sleep(60)


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


@autosched.register
def on_grid(scheduled_at: datetime) -> None:
    """Record its slot and the wall-clock time it started: ``on_grid@SLOT@WALL``."""
    record(f"on_grid@{scheduled_at.timestamp():.6f}@{time.time():.6f}")


@autosched.register
def spread(scheduled_at: datetime) -> None:
    """Like on_grid, for a row left with the spread offset."""
    record(f"spread@{scheduled_at.timestamp():.6f}@{time.time():.6f}")


@autosched.register
def greet(who: str, times: int = 1) -> None:
    """Record whom it greeted and how many times: ``greet:WHO:TIMES``."""
    record(f"greet:{who}:{times}")


@autosched.register
async def hang() -> None:
    """Record a start, then wait far longer than any timeout a test sets."""
    record("hang")
    await asyncio.sleep(60)


@autosched.register
async def deaf() -> None:
    """Record a start, then refuse to be cancelled, ever (to test bounded stops)."""
    record("deaf")
    while True:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            record("deaf-refused")


@autosched.register
def fail() -> None:
    """Record a run, then raise (to test that a worker's failure is reported)."""
    record("fail")
    raise ValueError("failing on a worker on purpose")


@autosched.register
def on_engine(row: str, scheduled_at: datetime) -> None:
    """Record which row's slot ran, and this process's parent: ``engine:ROW:SLOT:PPID``.

    RQ forks a work horse per job and Celery's prefork pool runs tasks in children, so the
    worker a run belongs to is this process or its parent.
    """
    record(f"engine:{row}:{scheduled_at.timestamp():.0f}:{os.getppid()}")


# A deploy that reaches the scheduler first: what only the newer code registers, and a
# signature only the newer code has. A process started with AUTOSCHED_PROCESS_NEWER=1 runs it.
NEWER = os.environ.get("AUTOSCHED_PROCESS_NEWER") == "1"

if NEWER:

    @autosched.register
    def only_newer() -> None:
        """Record a run of a function that older workers do not have."""
        record("only_newer")

    @autosched.register
    def reshaped(who: str, loud: bool = False) -> None:
        """Record a run, with an argument older workers do not take."""
        record(f"reshaped:{who}:{loud}")

else:

    @autosched.register
    def reshaped(who: str) -> None:  # type: ignore[misc]  # the older signature
        """Record a run, as older workers have it."""
        record(f"reshaped:{who}")


def _heard_finished(sender: object, name: str, outcome: str, **kwargs: object) -> None:
    """Record each ``task_finished`` a worker sends: ``finished:NAME:OUTCOME:EXCEPTION``."""
    from autosched.worker import Worker

    if sender is Worker:
        record(f"finished:{name}:{outcome}:{type(kwargs.get('exception')).__name__}")


# Only where a test asks for it: other tests count every line of the log as a run.
if os.environ.get("AUTOSCHED_PROCESS_SIGNALS") == "1":
    task_finished.connect(_heard_finished)
