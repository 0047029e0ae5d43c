"""How one run happens: a thread or the loop, errors contained, listeners told.

``autosched.scheduler.scheduler`` decides *when* to run; this module decides *how*.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from autosched.scheduler.task import Outcome, ScheduledTask

logger = logging.getLogger("autosched")

ERROR_TEXT_LIMIT = 500
#: Names of the threads that run sync task functions start with this.
RUN_THREAD_PREFIX = "autosched-run"


if sys.version_info >= (3, 12):

    def start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Start ``coro`` as a task; eagerly where Python supports it."""
        # Eager start runs the task up to its first await right away (an async function's
        # body, a sync function's hand-off to its thread) instead of one loop turn later.
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:  # pragma: no cover - Python 3.11

    def start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Start ``coro`` as a task."""
        return loop.create_task(coro)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """What a listener hears: a run ``started``, ``finished`` or was ``skipped`` (overlap)."""

    kind: Literal["started", "finished", "skipped"]
    task: ScheduledTask
    outcome: Outcome | None = None  # set when finished
    duration: float | None = None  # seconds, set when finished
    error: BaseException | None = None  # the exception of a failed run


RunListener = Callable[[RunEvent], None]
#: Asked right before a run's function is called; False means "do not run it now".
Gate = Callable[[], bool]


class _GateClosed(Exception):
    """The gate said no right before the function was to be called."""


class RunExecutor:
    """Run tasks: sync functions in a thread pool, async ones on the loop; never raise."""

    def __init__(self, max_workers: int, gate: Gate | None = None) -> None:
        self.max_workers = max_workers
        self.gate = gate
        self.listeners: list[RunListener] = []
        self._pool: ThreadPoolExecutor | None = None

    def notify(self, event: RunEvent) -> None:
        """Tell every listener about ``event``; a failing listener is logged, not raised."""
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break runs
                logger.exception("Run listener %r failed on %s.", listener, event.kind)

    def skip(self, task: ScheduledTask, message: str) -> None:
        """Count and log a run not started because the previous one is still going."""
        task.skip_count += 1
        logger.warning(message, task.name)
        if self.listeners:
            self.notify(RunEvent("skipped", task))

    def begin(self, task: ScheduledTask, wall_now: datetime) -> None:
        """Mark ``task`` running from now; call before ``execute`` so no slot can overlap."""
        task.running = True
        task.last_run = wall_now
        if self.listeners:
            self.notify(RunEvent("started", task))

    async def execute(self, task: ScheduledTask) -> None:
        """Run ``task`` once, recording outcome and duration; re-raise only our cancellation."""
        started = time.perf_counter()
        outcome: Outcome = "error"
        error: BaseException | None = None
        try:
            await self._call(task)
            outcome = "ok"
        except _GateClosed:
            outcome = "cancelled"
            logger.warning(
                "Not running task %r: its scheduler may no longer launch runs.", task.name
            )
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                outcome = "cancelled"
                raise
            error = asyncio.CancelledError()
            self._record_error(task, started, "cancelled itself")
        except BaseException as exc:  # a task must never take the loop down, whatever it raises
            error = exc
            self._record_error(task, started, f"{type(exc).__name__}: {exc}")
        finally:
            duration = time.perf_counter() - started
            task.running = False
            task.run_count += 1
            task.last_duration = duration
            task.last_outcome = outcome
            if outcome == "ok":
                task.last_error = None
                logger.info("Task %r succeeded in %.3f s.", task.name, duration)
            elif outcome == "cancelled":
                logger.warning("Task %r was cancelled after %.3f s.", task.name, duration)
            if self.listeners:
                self.notify(RunEvent("finished", task, outcome, duration, error))

    async def _call(self, task: ScheduledTask) -> None:
        if task.is_async:
            self._check_gate()
            await task.func()
            return
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._get_pool(), self._call_sync, task)
        if inspect.isawaitable(result):  # a sync callable that returned a coroutine
            await result

    def _call_sync(self, task: ScheduledTask) -> Any:
        # In the worker thread: a run may have waited in the pool's queue, so the gate is
        # asked only now, right before the call.
        self._check_gate()
        return task.func()

    def _check_gate(self) -> None:
        if self.gate is not None and not self.gate():
            raise _GateClosed

    @staticmethod
    def _record_error(task: ScheduledTask, started: float, text: str) -> None:
        task.error_count += 1
        task.last_error = text[:ERROR_TEXT_LIMIT]
        logger.exception("Task %r failed after %.3f s.", task.name, time.perf_counter() - started)

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=RUN_THREAD_PREFIX)
        return self._pool

    def shutdown(self) -> None:
        """Let the pool's threads go; a sync run still going finishes in its thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
