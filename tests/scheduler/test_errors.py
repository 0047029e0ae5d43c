"""Errors that fight back: a broken __str__, a message of megabytes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autosched.scheduler import AlreadyReported, GateClosed, Scheduler
from autosched.scheduler.errors import LOG_ERROR_LIMIT, STATUS_ERROR_LIMIT
from tests.scheduler.helpers import running


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


async def test_an_exception_whose_str_raises_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler()

    def fail() -> None:
        raise Unprintable

    scheduler.add_task("odd", fail, 60)
    with caplog.at_level(logging.ERROR, logger="autosched"):
        async with running(scheduler):
            scheduler.run_now("odd")
            async with asyncio.timeout(2):
                while scheduler.tasks["odd"].running:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    task = scheduler.tasks["odd"]
    assert (task.last_outcome, task.error_count) == ("error", 1)
    assert task.last_error == "Unprintable: <the exception's str() failed>"
    assert "'odd' failed" in caplog.text


async def test_a_huge_error_message_is_trimmed_in_the_log_and_the_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()

    def flood() -> None:
        raise ValueError("x" * 5_000_000)

    scheduler.add_task("flood", flood, 0.05)
    with caplog.at_level(logging.DEBUG, logger="autosched"):
        async with running(scheduler):
            async with asyncio.timeout(3):
                while scheduler.tasks["flood"].error_count < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    records = [r for r in caplog.records if "'flood' failed" in r.getMessage()]
    assert len(records) >= 3
    # The first one carries the traceback, with the message trimmed there too.
    assert all(len(r.getMessage()) < 3 * LOG_ERROR_LIMIT for r in records)
    assert "Traceback" in records[0].getMessage()
    assert "Traceback" not in records[1].getMessage()
    assert "the same error as before" in records[1].getMessage()
    assert len(scheduler.tasks["flood"].last_error or "") == STATUS_ERROR_LIMIT


async def test_an_already_reported_error_is_the_runs_error_but_not_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler()
    cause = ConnectionError("queue down")
    heard: list[BaseException | None] = []
    scheduler.add_listener(lambda event: heard.append(event.error))

    async def enqueue() -> None:
        raise AlreadyReported(cause)

    scheduler.add_task("job", enqueue, 60)
    with caplog.at_level(logging.INFO, logger="autosched"):
        await scheduler.run_task(scheduler.tasks["job"])
    task = scheduler.tasks["job"]
    assert (task.last_outcome, task.error_count) == ("error", 1)
    assert task.last_error == "ConnectionError: queue down"
    assert heard == [None, cause]  # started, then finished with the cause itself
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "job" in r.message]


async def test_a_function_may_say_the_gate_closed_and_its_run_is_cancelled() -> None:
    scheduler = Scheduler()

    async def enqueue() -> None:
        raise GateClosed

    scheduler.add_task("job", enqueue, 60)
    await scheduler.run_task(scheduler.tasks["job"])
    task = scheduler.tasks["job"]
    assert (task.last_outcome, task.error_count, task.last_error) == ("cancelled", 0, None)
