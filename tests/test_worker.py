"""Everything Django Tasks: the task that runs a registered function on a worker; backends."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from autosched.reports import read_reports
from autosched.signals import task_finished, task_started
from autosched.worker import backend_aliases
from tests.tasks_backend import IMMEDIATE, needs_tasks


@pytest.fixture(autouse=True)
def immediate_backend(settings: Any) -> None:
    settings.TASKS = IMMEDIATE


@needs_tasks
def test_worker_refuses_an_unregistered_key() -> None:
    from autosched.worker import run_periodic_task

    with pytest.raises(LookupError, match=r"'os\.system' is not a registered function"):
        run_periodic_task.call("os.system", "evil")


def test_backend_aliases_come_from_the_tasks_setting(settings: Any) -> None:
    settings.TASKS = {**IMMEDIATE, "other": IMMEDIATE["default"]}
    assert backend_aliases() == ["default", "other"]
    del settings.TASKS
    assert backend_aliases() == ["default"]


@pytest.fixture
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


FAILING = "tests.testapp.tasks.failing"
HEARTBEAT = "tests.testapp.tasks.heartbeat"
SLOT = "2026-12-01T10:00:00+00:00"


@needs_tasks
def test_a_failed_run_is_reported_and_still_raised(
    clean_cache: None, caplog: pytest.LogCaptureFixture
) -> None:
    from autosched.worker import run_periodic_task

    with (
        caplog.at_level(logging.INFO, logger="autosched"),
        pytest.raises(RuntimeError, match="failing on purpose"),
    ):
        run_periodic_task.call(FAILING, "nightly", {}, SLOT)
    report = read_reports(["nightly"])["nightly"]
    finished = report["finished"]
    assert (finished["outcome"], finished["error"]) == ("error", "RuntimeError: failing on purpose")
    assert (finished["host"], finished["pid"]) == (socket.gethostname(), os.getpid())
    assert finished["scheduled_at"] == SLOT
    assert 0 <= finished["duration"] < 5
    assert (report["run_count"], report["error_count"]) == (1, 1)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == f"Running periodic task 'nightly' ({FAILING}) on a worker."
    assert messages[1].startswith("Periodic task 'nightly' failed on a worker after ")
    assert messages[1].endswith(" s: RuntimeError: failing on purpose")


@needs_tasks
def test_a_run_sends_the_signals_in_the_worker(clean_cache: None) -> None:
    from autosched.worker import Worker, run_periodic_task

    heard: list[tuple[str, dict[str, Any]]] = []

    def started(sender: Any, **kwargs: Any) -> None:
        heard.append(("started", {"sender": sender, **kwargs}))

    def finished(sender: Any, **kwargs: Any) -> None:
        heard.append(("finished", {"sender": sender, **kwargs}))

    task_started.connect(started)
    task_finished.connect(finished)
    try:
        run_periodic_task.call(HEARTBEAT, "beat", {}, SLOT)
    finally:
        task_started.disconnect(started)
        task_finished.disconnect(finished)
    (kind1, first), (kind2, last) = heard
    assert (kind1, kind2) == ("started", "finished")
    assert first["sender"] is Worker
    assert first["name"] == "beat"
    assert last["started_at"] == first["started_at"]
    assert (last["outcome"], last["exception"]) == ("ok", None)
    assert last["duration"] >= 0
    assert read_reports(["beat"])["beat"]["finished"]["outcome"] == "ok"


@needs_tasks
def test_a_receiver_that_raises_is_logged_and_the_run_goes_on(
    clean_cache: None, caplog: pytest.LogCaptureFixture
) -> None:
    from autosched.worker import run_periodic_task

    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    task_started.connect(broken)
    try:
        run_periodic_task.call(HEARTBEAT, "beat", {}, SLOT)
    finally:
        task_started.disconnect(broken)
    assert "task_started failed for task 'beat'" in caplog.text
    assert read_reports(["beat"])["beat"]["finished"]["outcome"] == "ok"


@needs_tasks
def test_a_broken_status_cache_never_fails_the_run(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import autosched.reports
    from autosched.worker import run_periodic_task

    class Down:
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("down")

    monkeypatch.setattr(autosched.reports, "reporter", autosched.reports.Reporter())
    monkeypatch.setattr("autosched.worker.reporter", autosched.reports.reporter)
    monkeypatch.setattr(autosched.reports, "caches", {"default": Down()})
    run_periodic_task.call(HEARTBEAT, "beat", {}, SLOT)
    run_periodic_task.call(HEARTBEAT, "beat", {}, SLOT)
    assert caplog.text.count("Cannot report worker runs to the status cache") == 1
