"""Sentry Crons check-ins, captured by a fake transport: no network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import pytest
import sentry_sdk
from django.core.management import CommandError
from django.test import override_settings
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from autosched.checks import check_settings
from autosched.runner.sentry_crons import SentryCrons, monitor_config, monitor_slug
from autosched.scheduler import ScheduledTask, Scheduler
from tests.commands.test_runscheduler import SelfStoppingRunner, run_command
from tests.waiting import wait_until_async


class CapturingTransport(Transport):
    """Keep every envelope the SDK sends."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def check_ins(self) -> list[dict[str, Any]]:
        return [
            item.payload.json  # type: ignore[misc]
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "check_in"
        ]


@pytest.fixture
def transport() -> Iterator[CapturingTransport]:
    captured = CapturingTransport()
    client = sentry_sdk.Client(
        "https://public@sentry.invalid/1", transport=captured, default_integrations=False
    )
    scope = sentry_sdk.get_global_scope()
    previous = scope.client
    scope.set_client(client)
    yield captured
    scope.set_client(previous)


def ok() -> None:
    pass


def broken() -> None:
    raise RuntimeError("boom")


@pytest.fixture
async def scheduler() -> AsyncIterator[Scheduler]:
    scheduler = Scheduler()
    run = asyncio.create_task(scheduler.start())
    await wait_until_async(scheduler.is_running, "the scheduler to start")
    yield scheduler
    scheduler.stop()
    await run


async def test_each_run_sends_in_progress_then_its_outcome_with_duration(
    transport: CapturingTransport, scheduler: Scheduler
) -> None:
    SentryCrons(scheduler).attach()
    scheduler.add_task("nightly", ok, 7200, timeout=90)
    scheduler.add_task("broken", broken, 300)
    for name in ("nightly", "broken"):
        scheduler.run_now(name)
        await wait_until_async(lambda n=name: scheduler.tasks[n].run_count, "the run")

    by_slug: dict[str, list[dict[str, Any]]] = {}
    for check_in in transport.check_ins():
        by_slug.setdefault(check_in["monitor_slug"], []).append(check_in)
    started, ended = by_slug["nightly"]
    assert started["status"] == "in_progress"
    assert started["monitor_config"] == {
        "schedule": {"type": "interval", "value": 2, "unit": "hour"},
        "checkin_margin": 1,
        "max_runtime": 2,
    }
    assert (ended["status"], ended["check_in_id"]) == ("ok", started["check_in_id"])
    assert ended["duration"] >= 0
    assert [c["status"] for c in by_slug["broken"]] == ["in_progress", "error"]


async def test_worker_rows_get_no_check_in_from_the_scheduler(
    transport: CapturingTransport, scheduler: Scheduler
) -> None:
    SentryCrons(scheduler, worker_rows=lambda: {"w"}).attach()
    scheduler.add_task("w", ok, 60)
    scheduler.run_now("w")
    await wait_until_async(lambda: scheduler.tasks["w"].run_count, "the enqueue")

    assert transport.check_ins() == []


@pytest.mark.parametrize(
    ("interval", "schedule"),
    [
        (86_400 * 2, {"type": "interval", "value": 2, "unit": "day"}),
        (3600, {"type": "interval", "value": 1, "unit": "hour"}),
        (300, {"type": "interval", "value": 5, "unit": "minute"}),
        (90, {"type": "interval", "value": 2, "unit": "minute"}),
        (10, {"type": "interval", "value": 1, "unit": "minute"}),
    ],
)
def test_the_interval_in_sentrys_units(interval: int, schedule: dict[str, Any]) -> None:
    config = monitor_config(ScheduledTask("t", ok, interval))

    assert config["schedule"] == schedule
    assert "max_runtime" not in config


@pytest.mark.parametrize(
    ("name", "slug"),
    [("nightly-report", "nightly-report"), ("x" * 50, "x" * 50)],
)
def test_a_slug_name_is_its_own_slug(name: str, slug: str) -> None:
    assert monitor_slug(name) == slug


def test_other_names_get_a_slug_told_apart_by_a_hash() -> None:
    first, second = monitor_slug("Nightly Report"), monitor_slug("nightly report")

    assert first.startswith("nightly-report-")
    assert first != second
    assert len(monitor_slug("y" * 200)) <= 50


@pytest.mark.django_db(transaction=True)
def test_runscheduler_sends_check_ins_when_the_setting_is_on() -> None:
    with (
        override_settings(AUTOSCHED_SENTRY_CRONS=True),
        mock.patch(
            "autosched.management.commands.runscheduler.SchedulerRunner", SelfStoppingRunner
        ),
        mock.patch("autosched.runner.sentry_crons.SentryCrons.for_runner") as send,
    ):
        run_command("--sync-interval", "0.05")

    assert send.called


@pytest.mark.django_db(transaction=True)
def test_without_sentry_sdk_the_setting_says_which_extra_to_install() -> None:
    import sys

    with override_settings(AUTOSCHED_SENTRY_CRONS=True), mock.patch.dict(sys.modules):
        sys.modules.pop("autosched.runner.sentry_crons", None)
        sys.modules["sentry_sdk"] = None  # type: ignore[assignment]
        sys.modules["sentry_sdk.crons"] = None  # type: ignore[assignment]
        with pytest.raises(CommandError, match=r'pip install "autosched\[sentry\]"'):
            run_command("--sync-interval", "0.05")


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_e009_the_setting_is_a_bool(bad: object) -> None:
    with override_settings(AUTOSCHED_SENTRY_CRONS=bad):
        assert [message.id for message in check_settings()] == ["autosched.E010"]
