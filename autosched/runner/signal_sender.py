"""Send ``autosched.signals.task_started``/``task_finished`` for a scheduler's runs.

Both are sent from one dedicated thread, ``autosched-signals``, in the order the runs started
and ended — never from the event loop. A receiver may therefore block or use the ORM without
delaying any run (on the loop it would hold up every task, and Django would refuse the ORM
there with ``SynchronousOnlyOperation``). A receiver that raises is logged and ignored: it
never affects a run. The cost is that receivers run shortly after the event, not inside the
task's own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from django.db import close_old_connections, connections
from django.dispatch import Signal

from autosched.runner.calls import is_enqueuer
from autosched.scheduler import RunEvent, Scheduler
from autosched.signals import send_robustly, task_finished, task_started

__all__ = ["SignalSender"]

logger = logging.getLogger("autosched")

#: Events waiting for slow receivers beyond this many are dropped (with a warning), so that
#: receivers that cannot keep up never grow the scheduler's memory without bound.
MAX_PENDING = 10_000

_Item = tuple[Signal, dict[str, Any]] | None


class SignalSender:
    """Send ``task_started``/``task_finished`` for a ``Scheduler``'s runs from a thread."""

    def __init__(self, scheduler: Scheduler, *, max_pending: int = MAX_PENDING) -> None:
        self.scheduler = scheduler
        self.dropped = 0  # events lost because the queue was full
        self._queue: queue.Queue[_Item] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        """Listen to the scheduler and start the sending thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="autosched-signals", daemon=True)
        self._thread.start()
        self.scheduler.add_listener(self._on_run)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, send what is queued within ``timeout`` seconds, end the thread.

        Bounded whatever the receivers do: events still queued after ``timeout`` (a receiver
        hangs, or thousands wait) are dropped with a warning, and a hung thread is left to
        die with the process (it is a daemon).
        """
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.scheduler.remove_listener(self._on_run)
        deadline = time.monotonic() + timeout
        try:
            # Waits only while the queue is full, as long as the thread drains it.
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            self._stopping = True  # the thread ends after its current send
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            self._stopping = True
            left = self._queue.qsize()
            logger.warning(
                "Signal receivers did not finish within %.1f s; %d event(s) not sent.",
                timeout,
                left,
            )

    def _on_run(self, event: RunEvent) -> None:
        # The loop thread: copy what the receivers get now, as the task keeps changing.
        if is_enqueuer(event.task.func):
            return  # a worker row's run happens on the worker, which sends these itself
        if event.kind == "started":
            if task_started.has_listeners():
                self._put(task_started, {"started_at": event.task.last_run}, event)
        elif event.kind == "finished" and task_finished.has_listeners():
            details = {
                "started_at": event.task.last_run,
                "outcome": event.outcome,
                "duration": event.duration,
                "exception": event.error,
            }
            self._put(task_finished, details, event)

    def _put(self, signal: Signal, details: dict[str, Any], event: RunEvent) -> None:
        try:
            self._queue.put_nowait((signal, {"name": event.task.name, **details}))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "Signal receivers cannot keep up; dropped %d event(s) so far.", self.dropped
                )

    def _run(self) -> None:
        while not self._stopping and (item := self._queue.get()) is not None:
            signal, kwargs = item
            # Receivers may use the ORM: treat each send like a request for connections.
            close_old_connections()
            send_robustly(signal, Scheduler, **kwargs)
        connections.close_all()  # this thread's own connections, opened by receivers
