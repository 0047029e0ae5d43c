"""The RQ worker class of the engine tests: rq's Worker, with a stop that cannot hang.

rq's ``Worker.unsubscribe`` sends UNSUBSCRIBE, then stops its pubsub thread. redis-py's thread
reads the reply and, if the stop flag is not cleared yet (the main thread descheduled between
the two calls, as on a loaded machine), loops into ``get_message(timeout=60)``; with no channel
left that waits 60 s for a subscription, and redis-py >= 8.2's ``stop()`` joins it with no
timeout: the worker logs "unsubscribing from channel" and hangs past the test's 15 s.
Clearing the flag first makes the reply to UNSUBSCRIBE end the thread's loop.
"""

from __future__ import annotations

from rq.worker import Worker as RQWorker


class Worker(RQWorker):
    """rq's Worker whose pubsub thread is told to stop before the UNSUBSCRIBE that wakes it."""

    def unsubscribe(self) -> None:
        if self.pubsub_thread is not None:
            self.pubsub_thread.stop(timeout=0)  # clears the flag only: the thread still runs
        super().unsubscribe()
