"""Everything Django Tasks: the task that runs a registered function on a worker; backends."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache

from autosched.enqueue import RunToEnqueue
from autosched.reports import Reporter, going_on, lost_after, merge_report, read_reports
from autosched.signals import task_finished, task_started
from autosched.status import task_state
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
GREET = "tests.testapp.tasks.greet"
SLOT = "2026-12-01T10:00:00+00:00"
ROW = 7


def enqueued(
    key: str, name: str, kwargs: dict[str, Any] | None = None, row: int = ROW
) -> tuple[Any, ...]:
    """Return the arguments the scheduler enqueues for a run of row ``row`` at ``SLOT``."""
    return RunToEnqueue(key, name, kwargs=kwargs or {}, scheduled_at=SLOT, row_id=row).args


def report(name: str, row: int = ROW) -> dict[str, Any]:
    return read_reports({name: row})[name]


class Heard:
    """The signals a test hears, in order."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, dict[str, Any]]] = []

    def started(self, sender: Any, **kwargs: Any) -> None:
        self.signals.append(("started", {"sender": sender, **kwargs}))

    def finished(self, sender: Any, **kwargs: Any) -> None:
        self.signals.append(("finished", {"sender": sender, **kwargs}))


@pytest.fixture
def heard() -> Iterator[Heard]:
    listener = Heard()
    task_started.connect(listener.started)
    task_finished.connect(listener.finished)
    yield listener
    task_started.disconnect(listener.started)
    task_finished.disconnect(listener.finished)


@needs_tasks
def test_a_failed_run_is_reported_and_still_raised(
    clean_cache: None, caplog: pytest.LogCaptureFixture
) -> None:
    from autosched.worker import run_periodic_task

    with (
        caplog.at_level(logging.INFO, logger="autosched"),
        pytest.raises(RuntimeError, match="failing on purpose"),
    ):
        run_periodic_task.call(*enqueued(FAILING, "nightly"))
    found = report("nightly")
    finished = found["finished"]
    assert (finished["outcome"], finished["error"]) == ("error", "RuntimeError: failing on purpose")
    assert (finished["host"], finished["pid"]) == (socket.gethostname(), os.getpid())
    assert finished["scheduled_at"] == SLOT
    assert 0 <= finished["duration"] < 5
    assert (found["run_count"], found["error_count"]) == (1, 1)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == f"Running periodic task 'nightly' ({FAILING}) on a worker."
    assert messages[1].startswith("Periodic task 'nightly' failed on a worker after ")
    assert messages[1].endswith(" s: RuntimeError: failing on purpose")


@needs_tasks
def test_a_run_sends_the_signals_in_the_worker(clean_cache: None, heard: Heard) -> None:
    from autosched.worker import Worker, run_periodic_task

    run_periodic_task.call(*enqueued(HEARTBEAT, "beat"))
    (kind1, first), (kind2, last) = heard.signals
    assert (kind1, kind2) == ("started", "finished")
    assert first["sender"] is Worker
    assert first["name"] == "beat"
    assert last["started_at"] == first["started_at"]
    assert (last["outcome"], last["exception"]) == ("ok", None)
    assert last["duration"] >= 0
    assert report("beat")["finished"]["outcome"] == "ok"


@needs_tasks
@pytest.mark.parametrize(
    ("key", "kwargs", "error", "reason"),
    [
        (
            "tests.testapp.tasks.gone",
            {},
            LookupError,
            "LookupError: Periodic task 'nightly': 'tests.testapp.tasks.gone' is not a "
            "registered function in this worker; deploy the code that registers it.",
        ),
        (GREET, {"whom": "ana"}, ValueError, "KwargsError: "),
    ],
    ids=["not-registered-here", "kwargs-no-longer-fit"],
)
def test_a_refusal_before_the_call_is_reported_and_signalled_as_a_failure(
    clean_cache: None,
    heard: Heard,
    key: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    reason: str,
) -> None:
    from autosched.worker import run_periodic_task

    previous = Reporter()  # the row's last run went well
    previous.finished(
        ROW,
        "nightly",
        slot="earlier",
        started_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
        finished_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
        scheduled_at=None,
        outcome="ok",
        error=None,
        host="w0",
        pid=1,
    )
    with pytest.raises(error):
        run_periodic_task.call(*enqueued(key, "nightly", kwargs))
    merged = merge_report({"run_on": "worker"}, report("nightly"))
    assert (merged["last_outcome"], task_state(merged)) == ("error", "failing")
    assert merged["last_error"].startswith(reason)
    assert (merged["run_count"], merged["error_count"]) == (2, 1)
    assert [kind for kind, _ in heard.signals] == ["started", "finished"]
    finished = heard.signals[1][1]
    assert (finished["name"], finished["outcome"]) == ("nightly", "error")
    assert isinstance(finished["exception"], error)


@needs_tasks
@pytest.mark.parametrize(
    "tamper",
    [
        lambda args: args[:4],  # no row: enqueued by an older scheduler, or forged
        lambda args: (*args[:4], {**args[4], "row": 8}),  # another row
        lambda args: (*args[:3], "2026-12-01T11:00:00+00:00", args[4]),  # another slot
        lambda args: (*args[:4], {**args[4], "token": "0" * 64}),
        lambda args: (*args[:4], "junk"),
    ],
    ids=["no-row", "other-row", "other-slot", "forged-token", "junk"],
)
def test_a_run_the_scheduler_did_not_enqueue_is_never_reported(
    clean_cache: None, caplog: pytest.LogCaptureFixture, tamper: Any
) -> None:
    from autosched.worker import run_periodic_task

    run_periodic_task.call(*tamper(enqueued(HEARTBEAT, "beat")))
    assert read_reports({"beat": ROW, "other": 8}) == {}
    assert "Not reporting the run of periodic task 'beat' to the status" in caplog.text


def test_a_token_made_with_a_retired_secret_key_still_holds(settings: Any) -> None:
    from autosched.tokens import check_run_token, run_token

    token = run_token(ROW, HEARTBEAT, SLOT, 30)
    assert check_run_token(ROW, HEARTBEAT, SLOT, 30, token)
    assert not check_run_token(ROW, HEARTBEAT, SLOT, 31, token)  # the timeout is signed too
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key"
    assert check_run_token(ROW, HEARTBEAT, SLOT, 30, token)
    settings.SECRET_KEY_FALLBACKS = []
    assert not check_run_token(ROW, HEARTBEAT, SLOT, 30, token)


@needs_tasks
def test_a_run_whose_worker_was_killed_is_signalled_by_the_rows_next_run(
    clean_cache: None, heard: Heard
) -> None:
    from autosched.worker import WorkerLost, run_periodic_task

    killed_at = datetime.now(UTC) - timedelta(seconds=lost_after() + 1)
    gone = going_on(  # a worker started it, then died: no heartbeat since
        ROW,
        "beat",
        slot="2026-12-01T09:00:00+00:00",
        started_at=killed_at,
        scheduled_at=None,
        host="gone",
        pid=4,
        timeout=None,
    )
    Reporter().started(gone)
    run_periodic_task.call(*enqueued(HEARTBEAT, "beat"))
    lost = [kwargs for kind, kwargs in heard.signals if kwargs.get("exception") is not None]
    assert len(lost) == 1
    assert (lost[0]["name"], lost[0]["outcome"]) == ("beat", "error")
    assert lost[0]["started_at"] == killed_at
    assert isinstance(lost[0]["exception"], WorkerLost)
    assert "host gone, pid 4 stopped reporting" in str(lost[0]["exception"])
    found = report("beat")
    assert (found["run_count"], found["error_count"]) == (2, 1)
    assert found["finished"]["outcome"] == "ok"  # this run, the latest


@needs_tasks
def test_a_receiver_that_raises_is_logged_and_the_run_goes_on(
    clean_cache: None, caplog: pytest.LogCaptureFixture
) -> None:
    from autosched.worker import run_periodic_task

    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    task_started.connect(broken)
    try:
        run_periodic_task.call(*enqueued(HEARTBEAT, "beat"))
    finally:
        task_started.disconnect(broken)
    assert "task_started failed for task 'beat'" in caplog.text
    assert report("beat")["finished"]["outcome"] == "ok"


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
    run_periodic_task.call(*enqueued(HEARTBEAT, "beat"))
    run_periodic_task.call(*enqueued(HEARTBEAT, "beat"))
    assert caplog.text.count("Cannot report worker runs to the status cache") == 1
