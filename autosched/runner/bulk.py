"""Enqueue the runs due together in batches, in threads of their own; log an outage once.

A worker row's run is an async call (``calls.enqueuer``) that hands its run to an
``EnqueueBatcher`` and waits for that run's own outcome. The batcher sends what is waiting to
its threads as batches, one backend per batch: on a database backend a batch is one
transaction (``worker.enqueue_many``). While every thread is busy, the runs that come wait,
so the batches grow with the load: one run alone is sent at once, 10,000 due at one instant
go as a few dozen transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connections

from autosched.enqueue import BackendFailed, EnqueueError, RunToEnqueue, enqueue_many
from autosched.scheduler import AlreadyReported, GateClosed
from autosched.scheduler.errors import describe
from autosched.scheduler.logs import event

__all__ = ["ENQUEUE_THREADS", "MAX_BATCH", "EnqueueBatcher"]

logger = logging.getLogger("autosched")

#: Threads that enqueue; each keeps one connection to the backend's database or broker.
ENQUEUE_THREADS = 4
#: Most runs in one batch (one transaction): bounds how long the first of them waits.
MAX_BATCH = 100

EnqueueMany = Callable[[str, Sequence[RunToEnqueue]], list[EnqueueError | None]]
_Waiting = tuple[RunToEnqueue, "asyncio.Future[None]"]
_Batch = tuple[asyncio.AbstractEventLoop, str, list[_Waiting]]


@dataclass
class _Outage:
    """A backend that takes no run since ``since`` (monotonic), with ``failed`` runs so far."""

    since: float
    failed: int


class EnqueueBatcher:
    """Enqueue runs in batches from threads; use it from one event loop at a time."""

    def __init__(
        self,
        *,
        threads: int = ENQUEUE_THREADS,
        max_batch: int = MAX_BATCH,
        gate: Callable[[], bool] | None = None,
        enqueue: EnqueueMany = enqueue_many,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Make a batcher; ``gate()``, if given, is asked in the thread before each batch.

        A batch whose gate says False is not enqueued: its runs end as "cancelled".
        """
        if threads < 1 or max_batch < 1:
            raise ValueError(
                f"threads and max_batch must be 1 or more, got {threads}, {max_batch}."
            )
        self.threads = threads
        self.max_batch = max_batch
        self.gate = gate
        #: Batches sent so far, and the runs in them.
        self.batches = 0
        self.runs = 0
        self._enqueue = enqueue
        self._clock = clock
        self._waiting: dict[str, deque[_Waiting]] = {}  # by backend
        self._busy = 0
        self._flush_soon = False
        self._work: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._outages: dict[str, _Outage] = {}

    async def enqueue(self, backend: str, run: RunToEnqueue) -> None:
        """Enqueue ``run`` to ``backend`` with the runs due with it; raise its own error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting.setdefault(backend, deque()).append((run, future))
        if not self._flush_soon:
            # On the next turn of the loop: the other runs of this instant join first.
            self._flush_soon = True
            loop.call_soon(self._flush, loop)
        await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_soon = False
        while self._waiting and self._busy < self.threads:
            backend, waiting = next(iter(self._waiting.items()))
            # Spread what waits over the free threads, up to MAX_BATCH each.
            size = min(self.max_batch, math.ceil(len(waiting) / (self.threads - self._busy)))
            batch = [waiting.popleft() for _ in range(min(size, len(waiting)))]
            del self._waiting[backend]
            if waiting:  # to the back, so that backends take turns
                self._waiting[backend] = waiting
            batch = [item for item in batch if not item[1].done()]  # cancelled while waiting
            if batch:
                self._busy += 1
                self._start_workers()
                self._work.put((loop, backend, batch))

    def _start_workers(self) -> None:
        while len(self._workers) < self.threads:
            worker = threading.Thread(
                target=self._work_loop,
                name=f"autosched-enqueue-{len(self._workers) + 1}",
                daemon=True,
            )
            self._workers.append(worker)
            worker.start()

    def _work_loop(self) -> None:
        # In an enqueue thread: one batch after another, keeping the thread's connection.
        try:
            while (item := self._work.get()) is not None:
                loop, backend, batch = item
                outcomes = self._send(backend, [run for run, _ in batch])
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                    loop.call_soon_threadsafe(self._done, loop, backend, batch, outcomes)
        finally:
            connections.close_all()

    def _send(self, backend: str, runs: list[RunToEnqueue]) -> Sequence[BaseException | None]:
        try:
            # Asked again here: a batch may have waited for a thread since its runs began.
            if self.gate is not None and not self.gate():
                return [GateClosed() for _ in runs]
            return self._enqueue(backend, runs)
        except Exception as exc:  # enqueue_many reports errors per run; this is a bug there
            logger.exception(
                "Enqueueing a batch to backend %r failed.",
                backend,
                extra=event("enqueue_failed", outcome="error"),
            )
            return [exc] * len(runs)

    def _done(
        self,
        loop: asyncio.AbstractEventLoop,
        backend: str,
        batch: list[_Waiting],
        outcomes: Sequence[BaseException | None],
    ) -> None:
        self._busy -= 1
        self.batches += 1
        self.runs += len(batch)
        for (_, future), outcome in zip(batch, self._report(backend, outcomes), strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
        self._flush(loop)

    def _report(
        self, backend: str, outcomes: Sequence[BaseException | None]
    ) -> list[BaseException | None]:
        """Log an outage of ``backend`` once, and its end; return what each run raises."""
        failed = [error for error in outcomes if isinstance(error, BackendFailed)]
        outage = self._outages.get(backend)
        if failed and len(failed) == len(outcomes):  # the backend took none of them
            if outage is None:
                self._outages[backend] = _Outage(self._clock(), len(failed))
                cause = failed[0].__cause__ or failed[0]
                logger.error(
                    "Cannot enqueue to backend %r (%s). Its runs are reported as failed and "
                    "tried again at their next slots; this is logged once until it works again.",
                    backend,
                    describe(cause),
                    extra=event("enqueue_failed", outcome="error"),
                )
            else:
                outage.failed += len(failed)
            # The outage is logged: each run still fails, with its own error, but quietly.
            return [AlreadyReported(error) for error in failed]
        if outage is not None and any(outcome is None for outcome in outcomes):
            del self._outages[backend]
            logger.warning(
                "Enqueueing to backend %r works again after %d failed enqueue(s) in %.0f s.",
                backend,
                outage.failed,
                self._clock() - outage.since,
                extra=event("enqueue_recovered"),
            )
        # A run the backend refused (a queue it lacks), or a backend failing part of a batch:
        # the core logs those per task, a traceback once per distinct error.
        return list(outcomes)

    def close(self) -> None:
        """Let the enqueue threads end after their batch, each closing its connections."""
        for _ in self._workers:
            self._work.put(None)
        self._workers = []
