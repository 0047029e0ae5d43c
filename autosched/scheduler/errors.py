"""How a run's error is put into words: never raising, and trimmed to a known length.

A task may raise anything: an exception whose ``__str__`` raises, or one whose message is
megabytes long. Neither may escape the run, nor flood the log on every run.
"""

from __future__ import annotations

import traceback

__all__ = [
    "LOG_ERROR_LIMIT",
    "STATUS_ERROR_LIMIT",
    "AlreadyReported",
    "GateClosed",
    "describe",
    "format_traceback",
    "trim",
]

#: Longest error message in a log line, in characters.
LOG_ERROR_LIMIT = 1000
#: Longest ``last_error`` in a task's status, in characters.
STATUS_ERROR_LIMIT = 500
#: How many chained exceptions (``raise … from …``) a logged traceback follows.
CHAIN_LIMIT = 5


class AlreadyReported(Exception):
    """Raise it from a task's function for a failure that the function has logged itself.

    The run ends as "error" with ``error`` as its error (in the status and to listeners),
    but the core does not log it again: e.g. one line per outage of a queue, rather than one
    per run at every slot.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class GateClosed(Exception):
    """The gate said no right before the function was to be called (the run is "cancelled").

    A task's function that hands its work on (e.g. to a batch that asks the gate again, later)
    may raise it too.
    """


def trim(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, marked with "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(exc: BaseException, limit: int = LOG_ERROR_LIMIT) -> str:
    """Return ``"Type: message"`` for ``exc``, trimmed; never raise, whatever ``exc`` is."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the run
        message = "<the exception's str() failed>"
    return trim(f"{name}: {message}" if message else name, limit)


def format_traceback(exc: BaseException, limit: int = LOG_ERROR_LIMIT) -> str:
    """Return the traceback of ``exc`` (and of its causes) with each message trimmed."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < CHAIN_LIMIT:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{describe(current, limit)}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n\nThe above exception led to the following one:\n\n".join(reversed(parts))
