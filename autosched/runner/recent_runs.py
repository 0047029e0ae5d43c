"""The last runs of each task and the traceback of its last error, kept in memory only.

The status publisher hears them from the scheduler's run events and writes them, one cache
key per task, beside the status (``autosched.status.read_runs`` reads them). Nothing is kept
in the database: a scheduler that starts remembers no run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import sys
import threading
import traceback
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import autosched
from autosched.conf import conf, valid_run_history_bytes
from autosched.scheduler import RunEvent
from autosched.status import ERROR_TEXT_LIMIT, RECENT_RUNS, runs_key

__all__ = ["TRACEBACK_CHARS", "TRACEBACK_LINES", "RecentRuns", "trim", "trimmed_traceback"]

#: The most lines and characters of a traceback kept for the task page.
TRACEBACK_LINES = 60
TRACEBACK_CHARS = 6_000
#: Frames of these directories, where every run starts, say nothing about a task's error.
_CALLERS = tuple(
    str(Path(module.__file__ or "").resolve().parent) + os.sep
    for module in (autosched, asyncio, concurrent.futures)
)


def trim(text: str | None) -> str | None:
    """Cut an error text to ``ERROR_TEXT_LIMIT`` characters, marking the cut."""
    if text is None or len(text) <= ERROR_TEXT_LIMIT:
        return text
    return text[: ERROR_TEXT_LIMIT - 1] + "…"


def _own_frames(error: BaseException) -> TracebackType | None:
    """Return the traceback of ``error`` from the first frame outside autosched and asyncio."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_CALLERS):
        tb = tb.tb_next
    return tb or error.__traceback__


def trimmed_traceback(error: BaseException) -> str:
    """Return the traceback of ``error``: from the task's own code, its last lines if long."""
    try:
        tb = _own_frames(error)
        lines = "".join(traceback.format_exception(type(error), error, tb)).splitlines()
    except Exception:  # an exception whose __str__ raises: say what can be said
        lines = [f"{type(error).__name__} (its message cannot be shown)"]
    if len(lines) > TRACEBACK_LINES:
        left_out = len(lines) - TRACEBACK_LINES
        lines = [f"… ({left_out} lines left out)", *lines[-TRACEBACK_LINES:]]
    text = "\n".join(lines)
    if len(text) > TRACEBACK_CHARS:
        text = "…" + text[-(TRACEBACK_CHARS - 1) :]
    return text


#: A run as held: (number, started at, duration, outcome, error text). Tuples, not dicts: a
#: third of the memory.
_Run = tuple[int, datetime | None, float | None, str | None, str | None]
#: Estimated bytes of one run held, besides its error text: the tuple, its time, its duration
#: and number, its place in the oldest-first order and in its task's list (tracemalloc: ~300).
RUN_BYTES = 320
#: Estimated bytes of a task with runs held: its list and its entry in the dict of lists.
TASK_BYTES = 200


def _size(run: _Run) -> int:
    error = run[4]
    return RUN_BYTES + (sys.getsizeof(error) if error is not None else 0)


def _as_dict(run: _Run) -> dict[str, Any]:
    _, started_at, duration, outcome, error = run
    return {
        "started_at": started_at.isoformat() if started_at else None,
        "duration": duration,
        "outcome": outcome,
        "error": error,
    }


class RecentRuns:
    """Hold the last ``RECENT_RUNS`` runs of each task, newest first, and its last traceback.

    All the runs held take at most ``max_bytes`` (estimated; ``AUTOSCHED_RUN_HISTORY_BYTES``):
    past it, the oldest runs of all are dropped first, so that 100,000 tasks cannot make 20
    runs each (638 MB). ``heard`` runs on the scheduler's loop thread, in constant time;
    ``to_write`` runs on the publisher's thread, which formats tracebacks there, off the loop.
    A traceback is kept only until it is written.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is None:
            self.max_bytes = valid_run_history_bytes(conf.RUN_HISTORY_BYTES)
        else:
            self.max_bytes = valid_run_history_bytes(max_bytes, "max_bytes")
        self._lock = threading.Lock()
        self._runs: dict[str, list[_Run]] = {}  # each task's, oldest first
        self._order: OrderedDict[int, str] = OrderedDict()  # every run held, oldest first
        self._numbers = itertools.count()
        #: Estimated bytes of the runs held (``max_bytes`` at most).
        self.bytes = 0
        #: The last error of each task: the exception until formatted, then its traceback.
        self._errors: dict[str, BaseException | str | None] = {}
        self._changed: set[str] = set()  # tasks whose runs changed since they were written

    def heard(self, event: RunEvent) -> None:
        """Note a finished run (other events say nothing the runs need)."""
        if event.kind != "finished":
            return
        task = event.task
        error = None if event.outcome == "ok" else trim(task.last_error)
        run: _Run = (next(self._numbers), task.last_run, event.duration, event.outcome, error)
        with self._lock:
            runs = self._runs.get(task.name)
            if runs is None:
                runs = self._runs[task.name] = []
                self.bytes += TASK_BYTES
            runs.append(run)
            self._order[run[0]] = task.name
            self.bytes += _size(run)
            if len(runs) > RECENT_RUNS:
                self._drop(runs.pop(0))
            while self.bytes > self.max_bytes and self._order:
                _, name = self._order.popitem(last=False)
                oldest = self._runs[name]
                self.bytes -= _size(oldest.pop(0))  # the oldest held is its task's oldest
                if not oldest:
                    del self._runs[name]
                    self.bytes -= TASK_BYTES
            if event.error is None:
                self._errors.pop(task.name, None)  # only errors are held, not a None a task
            else:
                self._errors[task.name] = event.error
            self._changed.add(task.name)

    def _drop(self, run: _Run) -> None:
        del self._order[run[0]]
        self.bytes -= _size(run)

    def of(self, name: str) -> list[dict[str, Any]]:
        """Return the last runs of task ``name``, newest first."""
        with self._lock:
            runs = list(self._runs.get(name, ()))
        return [_as_dict(run) for run in reversed(runs)]

    def to_write(self, names: Mapping[str, object]) -> dict[str, dict[str, Any]]:
        """Return the records of the tasks in ``names`` whose runs changed, by cache key.

        Tasks no longer in ``names`` (removed from the scheduler) are forgotten.
        """
        with self._lock:
            for gone in self._runs.keys() - names.keys():
                for run in self._runs.pop(gone):
                    self._drop(run)
                self.bytes -= TASK_BYTES
            for gone in self._errors.keys() - names.keys():
                del self._errors[gone]
            changed, self._changed = self._changed & names.keys(), set()
            records = {
                name: (list(self._runs.get(name, ())), self._errors.get(name)) for name in changed
            }
        published_at = datetime.now(UTC).isoformat()
        written = {}
        for name, (runs, error) in records.items():
            if error is not None:
                held = error
                if isinstance(error, BaseException):
                    error = trimmed_traceback(error)
                with self._lock:  # written now: a failed write gives it back (write_again)
                    if self._errors.get(name) is held:
                        del self._errors[name]
            written[runs_key(name)] = {
                "name": name,
                "published_at": published_at,
                "runs": [_as_dict(run) for run in reversed(runs)],
                "traceback": error,
            }
        return written

    def write_again(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Mark the tasks of ``records`` changed again (their write failed)."""
        with self._lock:
            for record in records.values():
                name, traceback_text = record["name"], record["traceback"]
                # Unless a newer run has said its own error since (it marked the task changed).
                if name not in self._changed and traceback_text is not None:
                    self._errors[name] = traceback_text
                self._changed.add(name)
