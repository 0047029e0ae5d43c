"""RecentRuns: the last 20 runs of each task and its last traceback, in memory."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from autosched.conf import DEFAULT_RUN_HISTORY_BYTES
from autosched.runner.recent_runs import (
    RUN_BYTES,
    TASK_BYTES,
    RecentRuns,
    trim,
    trimmed_traceback,
)
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


def test_past_the_byte_cap_the_oldest_runs_of_all_tasks_go_first() -> None:
    recent = RecentRuns(max_bytes=3 * (RUN_BYTES + TASK_BYTES))
    tasks = [ScheduledTask(name, job, 60) for name in ("alpha", "beta", "gamma", "delta")]
    for task in tasks:
        finish(recent, task, "ok")
    assert [len(recent.of(task.name)) for task in tasks] == [0, 1, 1, 1]  # alpha's went
    finish(recent, tasks[2], "ok")  # gamma's second run: now beta's is the oldest
    assert [len(recent.of(task.name)) for task in tasks] == [0, 0, 2, 1]
    assert recent.bytes <= recent.max_bytes


def test_error_texts_count_against_the_cap() -> None:
    recent, task = RecentRuns(max_bytes=20 * RUN_BYTES + TASK_BYTES), ScheduledTask("a", job, 60)
    for _ in range(20):
        finish(recent, task, "ok")
    assert len(recent.of("a")) == 20
    finish(recent, task, "error", ValueError("x" * 250))
    assert len(recent.of("a")) < 20
    assert recent.bytes <= recent.max_bytes


def test_a_cap_of_zero_keeps_no_run_but_still_writes_the_last_error() -> None:
    recent, task = RecentRuns(max_bytes=0), ScheduledTask("alpha", job, 60)
    finish(recent, task, "error", raised(ValueError("bad")))
    assert recent.of("alpha") == []
    record = recent.to_write({"alpha": {}})[runs_key("alpha")]
    assert record["runs"] == []
    assert record["traceback"].endswith("ValueError: bad")


def test_the_cap_holds_in_real_memory_at_2000_tasks() -> None:
    # 20 runs of 2,000 tasks took 12 MB; the cap holds them to about 1 MiB, whatever the runs.
    cap = 2**20
    tasks = [ScheduledTask(f"task-{number}", job, 60) for number in range(2000)]
    gc.collect()
    tracemalloc.start()
    try:
        recent = RecentRuns(max_bytes=cap)
        before = tracemalloc.get_traced_memory()[0]
        for number in range(20):
            for task in tasks:
                error = ValueError("y" * 200) if number % 3 == 0 else None
                finish(recent, task, "error" if error else "ok", error)
            recent.to_write({task.name: None for task in tasks})
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert recent.bytes <= cap
    assert grown < 1.5 * cap  # other threads of the test run allocate meanwhile too
    assert sum(len(recent.of(task.name)) for task in tasks) > 2000  # yet runs are kept


def test_the_cap_comes_from_the_setting(settings: Any) -> None:
    assert RecentRuns().max_bytes == DEFAULT_RUN_HISTORY_BYTES == 32 * 2**20
    settings.AUTOSCHED_RUN_HISTORY_BYTES = 4096
    assert RecentRuns().max_bytes == 4096
    settings.AUTOSCHED_RUN_HISTORY_BYTES = -1
    with pytest.raises(ValueError, match="AUTOSCHED_RUN_HISTORY_BYTES"):
        RecentRuns()


def test_forgotten_tasks_give_their_bytes_back() -> None:
    recent = RecentRuns()
    alpha, beta = ScheduledTask("alpha", job, 60), ScheduledTask("beta", job, 60)
    finish(recent, alpha, "ok")
    finish(recent, beta, "ok")
    recent.to_write({"alpha": {}})
    assert recent.bytes == RUN_BYTES + TASK_BYTES
