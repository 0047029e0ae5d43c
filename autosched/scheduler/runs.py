"""How one run happens: a thread or the loop, errors contained, listeners told.

``autosched.scheduler.scheduler`` decides *when* to run; this module decides *how*.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import sys
import time
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from autosched.scheduler.errors import (
    LOG_ERROR_LIMIT,
    STATUS_ERROR_LIMIT,
    AlreadyReported,
    GateClosed,
    describe,
    format_traceback,
    trim,
)
from autosched.scheduler.logs import event
from autosched.scheduler.task import Outcome, ScheduledTask

logger = logging.getLogger("autosched")

ERROR_TEXT_LIMIT = STATUS_ERROR_LIMIT
_slot: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "autosched_scheduled_at", default=None
)


def _event(
    name: str,
    task: str,
    slot: datetime | None = None,
    outcome: str | None = None,
    duration: float | None = None,
) -> dict[str, Any]:
    return event(name, task, slot=slot, outcome=outcome, duration_s=duration)


def current_slot() -> datetime | None:
    """Return the slot of the run this code is part of (aware UTC), or None outside a run.

    For a scheduled run it is the slot's time on the grid (not when the run began); for
    ``Scheduler.run_now`` the time it was asked for. Task code may read it, e.g. to process
    exactly the hour that ended at the slot.
    """
    return _slot.get()


#: Seconds an async run past its timeout has to honour the cancellation (at most its timeout
#: again) before it is reported as overrunning.
CANCEL_GRACE = 1.0

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
    """What a listener hears: a run ``started``, ``finished``, was ``skipped`` (overlap), or
    ``overrun`` its timeout (a sync run, which goes on)."""

    kind: Literal["started", "finished", "skipped", "overrun"]
    task: ScheduledTask
    outcome: Outcome | None = None  # set when finished
    duration: float | None = None  # seconds, set when finished
    error: BaseException | None = None  # the exception of a failed run


RunListener = Callable[[RunEvent], None]
#: Told of each run as it ends: ``observer(task, outcome, duration, slot)``. One plain call
#: per run and no event built, for counters that must cost next to nothing (metrics).
RunObserver = Callable[[ScheduledTask, Outcome, float, "datetime | None"], None]
#: Asked right before a run's function is called; False means "do not run it now".
Gate = Callable[[], bool]


class _TimedOut(Exception):
    """An async run was cancelled because it outlived its timeout."""


class RunExecutor:
    """Run tasks: sync functions in a thread pool, async ones on the loop; never raise."""

    def __init__(self, max_workers: int, gate: Gate | None = None) -> None:
        self.max_workers = max_workers
        self.gate = gate
        self.listeners: list[RunListener] = []
        self.observers: tuple[RunObserver, ...] = ()
        #: Tasks whose running sync run a stopping scheduler gave up waiting for.
        self.abandoned: weakref.WeakSet[ScheduledTask] = weakref.WeakSet()
        self._pool: ThreadPoolExecutor | None = None
        # The last error of each task, so that a traceback is logged once per distinct error.
        self._last_errors: weakref.WeakKeyDictionary[ScheduledTask, str] = (
            weakref.WeakKeyDictionary()
        )
        self._warned_overrun: weakref.WeakSet[ScheduledTask] = weakref.WeakSet()

    def notify(self, event: RunEvent) -> None:
        """Tell every listener about ``event``; a failing listener is logged, not raised."""
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break runs
                logger.exception(
                    "Run listener %r failed on %s.",
                    listener,
                    event.kind,
                    extra=_event("listener_failed", event.task.name),
                )

    def skip(self, task: ScheduledTask, message: str) -> None:
        """Count and log a run not started because the previous one is still going."""
        task.skip_count += 1
        extra = _event("skipped", task.name)
        if task.overrun and task in self._warned_overrun:
            # One warning per overrun, not one per slot.
            logger.debug(message, task.name, extra=extra)
        elif task.overrun:
            self._warned_overrun.add(task)
            logger.warning(
                "Task %r is still running past its %g s timeout; its slots are skipped "
                "until that run returns.",
                task.name,
                task.timeout_seconds,
                extra=extra,
            )
        else:
            logger.warning(message, task.name, extra=extra)
        if self.listeners:
            self.notify(RunEvent("skipped", task))

    def begin(self, task: ScheduledTask, wall_now: datetime) -> None:
        """Mark ``task`` running from now; call before ``execute`` so no slot can overlap."""
        task.running = True
        task.overrun = False
        task.run_started = time.monotonic()
        task.last_run = wall_now
        if self.listeners:
            self.notify(RunEvent("started", task))

    async def execute(self, task: ScheduledTask, scheduled_at: datetime | None = None) -> None:
        """Run ``task`` once, recording outcome and duration; re-raise only our cancellation."""
        started = time.perf_counter()
        outcome: Outcome = "error"
        error: BaseException | None = None
        failure: str | None = None
        reported = False
        finished = True
        token = _slot.set(scheduled_at)
        if logger.isEnabledFor(logging.DEBUG):  # one dict per run only when it is written
            logger.debug(
                "Task %r started.", task.name, extra=_event("started", task.name, scheduled_at)
            )
        try:
            await self._call(task)
            outcome = "ok"
        except GateClosed:
            outcome = "cancelled"
            logger.warning(
                "Not running task %r: its scheduler may no longer launch runs.",
                task.name,
                extra=_event("not_started", task.name, scheduled_at, outcome),
            )
        except _TimedOut:
            outcome = "timeout"
        except AlreadyReported as exc:
            error, failure, reported = exc.error, describe(exc.error), True
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                outcome = "cancelled"
                # A sync function goes on in its thread: that run has not finished.
                finished = task not in self.abandoned
                raise
            error, failure = asyncio.CancelledError(), "cancelled itself"
        except BaseException as exc:  # a task must never take the loop down, whatever it raises
            error, failure = exc, describe(exc)
        finally:
            _slot.reset(token)
            if finished:
                duration = time.perf_counter() - started
                self._finish(task, outcome, duration, error, failure, reported, scheduled_at)

    def _finish(
        self,
        task: ScheduledTask,
        outcome: Outcome,
        duration: float,
        error: BaseException | None,
        failure: str | None,
        reported: bool = False,
        slot: datetime | None = None,
    ) -> None:
        if task.overrun and outcome in ("ok", "error"):
            outcome = "timeout"  # a sync run that outlived its timeout, and returned at last
        if outcome == "timeout":
            limit = f"{duration:.3f} s, over its {task.timeout_seconds:g} s timeout"
            failure = f"Timeout: ran {limit}" + (f" ({failure})" if failure else "")
        task.running = False
        task.overrun = False
        task.run_started = None
        self._warned_overrun.discard(task)
        task.run_count += 1
        task.last_duration = duration
        task.last_outcome = outcome
        if failure is not None:
            extra = _event("finished", task.name, slot, outcome, duration)
            self._record_error(task, duration, failure, error, reported, extra)
        elif outcome == "ok":
            task.last_error = None
            if logger.isEnabledFor(logging.INFO):  # one dict per run only when it is written
                extra = _event("finished", task.name, slot, outcome, duration)
                logger.info("Task %r succeeded in %.3f s.", task.name, duration, extra=extra)
        elif outcome == "cancelled":
            extra = _event("finished", task.name, slot, outcome, duration)
            logger.warning("Task %r was cancelled after %.3f s.", task.name, duration, extra=extra)
        if self.observers:
            self._observe(task, outcome, duration, slot)
        if self.listeners:
            self.notify(RunEvent("finished", task, outcome, duration, error))

    def _observe(
        self, task: ScheduledTask, outcome: Outcome, duration: float, slot: datetime | None
    ) -> None:
        for observer in self.observers:
            try:
                observer(task, outcome, duration, slot)
            except Exception:  # a broken observer must not break runs
                logger.exception(
                    "Run observer %r failed.", observer, extra=_event("listener_failed", task.name)
                )

    def _record_error(
        self,
        task: ScheduledTask,
        duration: float,
        failure: str,
        error: BaseException | None,
        reported: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        task.error_count += 1
        task.last_error = trim(failure, STATUS_ERROR_LIMIT)
        text = trim(failure, LOG_ERROR_LIMIT)
        if reported:  # the function logged it already, once for many runs
            logger.debug("Task %r failed after %.3f s: %s", task.name, duration, text, extra=extra)
            return
        if error is None or isinstance(error, asyncio.CancelledError):
            logger.error("Task %r failed after %.3f s: %s", task.name, duration, text, extra=extra)
            return
        trace = format_traceback(error)
        # The traceback once per distinct error; the same error again gets one line (and
        # the traceback at DEBUG), so that a task failing every second cannot flood the log.
        if self._last_errors.get(task) != text:
            self._last_errors[task] = text
            logger.error(
                "Task %r failed after %.3f s: %s\n%s", task.name, duration, text, trace, extra=extra
            )
        else:
            logger.error(
                "Task %r failed after %.3f s: %s (the same error as before)",
                task.name,
                duration,
                text,
                extra=extra,
            )
            logger.debug("Traceback of task %r:\n%s", task.name, trace, extra=extra)

    async def _call(self, task: ScheduledTask) -> None:
        timeout = task.timeout_seconds
        if task.is_async:
            self._check_gate()
            if timeout is None:
                await task.func()
                return
            scope = asyncio.timeout(timeout)
            # A run that swallows its timeout's cancellation goes on: once it has had time
            # to honour the cancellation, it is reported as overrunning, like a sync run.
            deaf = asyncio.get_running_loop().call_later(
                timeout + min(CANCEL_GRACE, timeout), self._overrun, task
            )
            try:
                async with scope:
                    await task.func()
            except TimeoutError:
                if scope.expired():
                    raise _TimedOut from None
                raise  # the task's own TimeoutError, not our timeout
            finally:
                deaf.cancel()
            if scope.expired():  # cancelled by the timeout, which it swallowed
                raise _TimedOut
            return
        loop = asyncio.get_running_loop()
        watch = loop.call_later(timeout, self._overrun, task) if timeout is not None else None
        try:
            # The thread runs in a copy of this context, so that current_slot() works there.
            context = contextvars.copy_context()
            result = await loop.run_in_executor(
                self._get_pool(), context.run, self._call_sync, task
            )
        finally:
            if watch is not None:
                watch.cancel()
        if inspect.isawaitable(result):  # a sync callable that returned a coroutine
            await result

    def _overrun(self, task: ScheduledTask) -> None:
        # On the loop, when a run outlives its timeout and goes on: say so until it returns.
        if not task.running:
            return
        task.overrun = True
        if task.is_async:
            logger.error(
                "Task %r has run past its %g s timeout and went on when cancelled; it is "
                "reported as overrunning until it returns.",
                task.name,
                task.timeout_seconds,
                extra=_event("overrun", task.name),
            )
        else:
            logger.error(
                "Task %r has run for %g s, past its timeout; a sync function cannot be "
                "stopped, so it is reported as overrunning until it returns.",
                task.name,
                task.timeout_seconds,
                extra=_event("overrun", task.name),
            )
        if self.listeners:
            self.notify(RunEvent("overrun", task))

    def _call_sync(self, task: ScheduledTask) -> Any:
        # In the worker thread: a run may have waited in the pool's queue, so the gate is
        # asked only now, right before the call.
        self._check_gate()
        return task.func()

    def _check_gate(self) -> None:
        if self.gate is not None and not self.gate():
            raise GateClosed

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=RUN_THREAD_PREFIX)
        return self._pool

    def shutdown(self) -> None:
        """Let the pool's threads go; a sync run still going finishes in its thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
