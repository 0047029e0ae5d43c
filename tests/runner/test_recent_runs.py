"""RecentRuns: the last 20 runs of each task and its last traceback, in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autosched.runner.recent_runs import RecentRuns, trim, trimmed_traceback
from autosched.scheduler import RunEvent, ScheduledTask
from autosched.status import ERROR_TEXT_LIMIT, RECENT_RUNS, runs_key


def job() -> None:
    """Do nothing."""


def finish(recent: RecentRuns, task: ScheduledTask, outcome: Any, error: Any = None) -> None:
    task.last_run = datetime.now(UTC)
    task.last_error = None if error is None else f"{type(error).__name__}: {error}"
    recent.heard(RunEvent("finished", task, outcome, 0.25, error))


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_the_last_20_runs_of_each_task_are_kept_newest_first() -> None:
    recent, task = RecentRuns(), ScheduledTask("alpha", job, 60)
    for number in range(25):
        failed = number % 2 == 0
        finish(recent, task, "error" if failed else "ok", KeyError(number) if failed else None)
    runs = recent.of("alpha")
    assert len(runs) == RECENT_RUNS == 20
    assert runs[0] == {
        "started_at": task.last_run.isoformat() if task.last_run else None,
        "duration": 0.25,
        "outcome": "error",
        "error": "KeyError: 24",
    }
    assert runs[1]["error"] is None


def test_other_events_are_not_runs() -> None:
    recent, task = RecentRuns(), ScheduledTask("alpha", job, 60)
    for kind in ("started", "skipped", "overrun"):
        recent.heard(RunEvent(kind, task))  # type: ignore[arg-type]
    assert recent.of("alpha") == []
    assert recent.to_write({"alpha": {}}) == {}


def test_only_changed_runs_are_written_and_removed_tasks_forgotten() -> None:
    recent = RecentRuns()
    alpha, beta = ScheduledTask("alpha", job, 60), ScheduledTask("beta", job, 60)
    finish(recent, alpha, "ok")
    finish(recent, beta, "ok")
    written = recent.to_write({"alpha": {}})  # beta is no longer in the scheduler
    assert list(written) == [runs_key("alpha")]
    assert written[runs_key("alpha")]["traceback"] is None
    assert recent.of("beta") == []
    assert recent.to_write({"alpha": {}}) == {}  # unchanged since


def test_the_traceback_is_formatted_once_and_kept_for_a_write_again() -> None:
    recent, task = RecentRuns(), ScheduledTask("alpha", job, 60)
    finish(recent, task, "error", raised(ValueError("bad")))
    first = recent.to_write({"alpha": {}})
    recent.write_again(first)  # the cache refused it
    again = recent.to_write({"alpha": {}})
    assert again[runs_key("alpha")]["traceback"] == first[runs_key("alpha")]["traceback"]
    assert again[runs_key("alpha")]["traceback"].endswith("ValueError: bad")
    finish(recent, task, "ok")
    assert recent.to_write({"alpha": {}})[runs_key("alpha")]["traceback"] is None


def test_a_traceback_of_an_exception_that_cannot_be_said_is_still_a_text() -> None:
    class Unsayable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert "Unsayable" in trimmed_traceback(Unsayable())


def test_long_texts_are_trimmed() -> None:
    assert trim(None) is None
    assert trim("x" * ERROR_TEXT_LIMIT) == "x" * ERROR_TEXT_LIMIT
    assert trim("x" * 2000) == "x" * (ERROR_TEXT_LIMIT - 1) + "…"
    long = trimmed_traceback(raised(ValueError("y" * 10_000)))
    assert len(long) == 6_000
    assert long.startswith("…")
