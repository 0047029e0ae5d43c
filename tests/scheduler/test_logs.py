"""The core's log records carry autosched's ``extra`` keys, named for what happened."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from autosched.scheduler import Scheduler
from autosched.scheduler.logs import EVENTS, KEYS, event
from tests.scheduler.helpers import running
from tests.waiting import wait_until_async


class Capture(logging.Handler):
    """Keep every record the "autosched" logger emits."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "autosched_event", None) == name]


@pytest.fixture
def captured() -> Iterator[Capture]:
    logger = logging.getLogger("autosched")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def keys_of(record: logging.LogRecord) -> dict[str, object]:
    return {key: getattr(record, key) for key in KEYS}


def ok() -> None:
    pass


def broken() -> None:
    raise RuntimeError("boom")


async def test_a_run_logs_started_and_finished_with_its_slot_outcome_and_duration(
    captured: Capture,
) -> None:
    scheduler = Scheduler()
    slot = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    async with running(scheduler):
        scheduler.add_task("good", ok, 3600)
        scheduler.add_task("bad", broken, 3600)
        scheduler.run_now("good", scheduled_at=slot)
        scheduler.run_now("bad", scheduled_at=slot)
        await wait_until_async(
            lambda: scheduler.tasks["good"].run_count and scheduler.tasks["bad"].run_count,
            "both runs to end",
        )

    started = {r.task: keys_of(r) for r in captured.of("started")}
    assert started["good"] == {
        "autosched_event": "started",
        "task": "good",
        "slot": "2026-12-05T12:00:00+00:00",
        "outcome": None,
        "duration_s": None,
    }
    finished = {r.task: keys_of(r) for r in captured.of("finished")}  # type: ignore[attr-defined]
    assert finished["good"]["outcome"] == "ok"
    assert finished["bad"]["outcome"] == "error"
    assert finished["bad"]["slot"] == "2026-12-05T12:00:00+00:00"
    assert isinstance(finished["good"]["duration_s"], float)
    assert [r.levelno for r in captured.of("finished") if r.task == "bad"] == [logging.ERROR]  # type: ignore[attr-defined]


async def test_a_timeout_and_a_cancellation_are_finished_with_their_outcome(
    captured: Capture,
) -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    scheduler = Scheduler(grace_period=0)
    async with running(scheduler):
        scheduler.add_task("slow", forever, 3600, timeout=0.01)
        scheduler.add_task("stuck", forever, 3600)
        scheduler.run_now("slow")
        scheduler.run_now("stuck")
        await wait_until_async(lambda: scheduler.tasks["slow"].run_count, "the timeout")

    outcomes = {r.task: r.outcome for r in captured.of("finished")}  # type: ignore[attr-defined]
    assert outcomes == {"slow": "timeout", "stuck": "cancelled"}
    assert [r.task for r in captured.of("runs_cancelled")] == [None]  # type: ignore[attr-defined]


async def test_a_skipped_slot_and_an_overrun_are_named(captured: Capture) -> None:
    release = threading.Event()
    scheduler = Scheduler(grace_period=5)
    async with running(scheduler):
        scheduler.add_task("long", release.wait, 3600, timeout=0.01)
        scheduler.run_now("long")
        await wait_until_async(lambda: scheduler.tasks["long"].overrun, "the overrun")
        scheduler.run_now("long")
        release.set()

    assert [r.task for r in captured.of("overrun")] == ["long"]  # type: ignore[attr-defined]
    assert [r.task for r in captured.of("skipped")] == ["long"]  # type: ignore[attr-defined]


async def test_the_scheduler_logs_its_start_and_stop(captured: Capture) -> None:
    async with running(Scheduler()):
        pass

    assert len(captured.of("scheduler_started")) == len(captured.of("scheduler_stopped")) == 1


def test_a_record_without_an_event_gets_the_keys_too(captured: Capture) -> None:
    logging.getLogger("autosched").warning("Something else.")

    (record,) = captured.records
    assert keys_of(record) == dict.fromkeys(KEYS) | {"autosched_event": "log"}


def test_event_rounds_the_duration_and_says_the_slot_in_iso_8601() -> None:
    slot = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)

    said = event("finished", "t", slot=slot, outcome="ok", duration_s=0.1234567)

    assert said == {
        "autosched_event": "finished",
        "task": "t",
        "slot": "2026-12-05T12:00:00+00:00",
        "outcome": "ok",
        "duration_s": 0.123457,
    }
    assert said["autosched_event"] in EVENTS
