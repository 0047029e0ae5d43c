"""The last runs of each task and the traceback of its last error, kept in memory only.

The status publisher hears them from the scheduler's run events and writes them, one cache
key per task, beside the status (``autosched.status.read_runs`` reads them). Nothing is kept
in the database: a scheduler that starts remembers no run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import traceback
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import autosched
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


class RecentRuns:
    """Hold the last ``RECENT_RUNS`` runs of each task, newest first, and its last traceback.

    ``heard`` runs on the scheduler's loop thread and only appends; ``to_write`` runs on the
    publisher's thread, which formats tracebacks there, off the loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, deque[dict[str, Any]]] = {}
        #: The last error of each task: the exception until formatted, then its traceback.
        self._errors: dict[str, BaseException | str | None] = {}
        self._changed: set[str] = set()  # tasks whose runs changed since they were written

    def heard(self, event: RunEvent) -> None:
        """Note a finished run (other events say nothing the runs need)."""
        if event.kind != "finished":
            return
        task = event.task
        run = {
            "started_at": task.last_run.isoformat() if task.last_run else None,
            "duration": event.duration,
            "outcome": event.outcome,
            "error": None if event.outcome == "ok" else trim(task.last_error),
        }
        with self._lock:
            runs = self._runs.get(task.name)
            if runs is None:
                runs = self._runs[task.name] = deque(maxlen=RECENT_RUNS)
            runs.appendleft(run)
            self._errors[task.name] = None if event.outcome == "ok" else event.error
            self._changed.add(task.name)

    def of(self, name: str) -> list[dict[str, Any]]:
        """Return the last runs of task ``name``, newest first."""
        with self._lock:
            return list(self._runs.get(name, ()))

    def to_write(self, names: Mapping[str, object]) -> dict[str, dict[str, Any]]:
        """Return the records of the tasks in ``names`` whose runs changed, by cache key.

        Tasks no longer in ``names`` (removed from the scheduler) are forgotten.
        """
        with self._lock:
            for gone in self._runs.keys() - names.keys():
                del self._runs[gone]
                self._errors.pop(gone, None)
            changed, self._changed = self._changed & names.keys(), set()
            records = {name: (list(self._runs[name]), self._errors.get(name)) for name in changed}
        published_at = datetime.now(UTC).isoformat()
        written = {}
        for name, (runs, error) in records.items():
            if isinstance(error, BaseException):
                error = trimmed_traceback(error)
                with self._lock:  # formatted once; the frames it held are let go
                    if isinstance(self._errors.get(name), BaseException):
                        self._errors[name] = error
            written[runs_key(name)] = {
                "name": name,
                "published_at": published_at,
                "runs": runs,
                "traceback": error,
            }
        return written

    def write_again(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Mark the tasks of ``records`` changed again (their write failed)."""
        with self._lock:
            self._changed.update(record["name"] for record in records.values())
