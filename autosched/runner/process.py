"""What ``runscheduler`` does to its OS process: stop on SIGINT/SIGTERM, exit past stuck threads.

Signal handlers are installed by the command on the main thread, the previous ones restored
after (uvicorn's ``capture_signals`` shape): the first signal stops gracefully, a second
Ctrl-C forces the exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn, Protocol

from autosched.scheduler import RUN_THREAD_PREFIX

__all__ = [
    "FORCED_EXIT_STATUS",
    "SWITCH_INTERVAL",
    "favour_the_loop",
    "flush_logging",
    "stop_on_signals",
    "threads_blocking_exit",
]

logger = logging.getLogger("autosched")

#: Exit status of a forced stop by a second Ctrl-C, as a shell reports death by SIGINT (a
#: second SIGTERM gives 143).
FORCED_EXIT_STATUS = 128 + signal.SIGINT
#: Seconds a thread may hold the GIL while another waits for it, in runscheduler's process.
SWITCH_INTERVAL = 0.001


def favour_the_loop() -> None:
    """Let the event loop take the GIL back within 1 ms from a busy thread (Python's: 5 ms).

    The loop gives the GIL up at every wait; to get it back it must wait for the busy thread
    to be made to let go, and with two busy threads (the status publisher building 100,000
    tasks' status, the enqueue threads) it could lose that race several times running: the
    loop then stalled 70 to 130 ms (``bench/scale.py``), 10 to 20 ms at 1 ms. It is the
    process's setting, so only ``manage.py runscheduler``, whose process it is, sets it.
    """
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


def _handlers() -> list[logging.Handler]:
    """Return every handler of every logger, each before the handler it buffers for."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger()]
    loggers += [
        each for each in list(manager.loggerDict.values()) if isinstance(each, logging.Logger)
    ]
    found: list[logging.Handler] = []
    for logger in loggers:
        for handler in list(logger.handlers):
            # A MemoryHandler's target may sit on no logger: flush it right after.
            each: object = handler
            while isinstance(each, logging.Handler) and each not in found:
                found.append(each)
                each = getattr(each, "target", None)
    return found


def flush_logging(timeout: float = 1.0) -> None:
    """Flush every logging handler, waiting ``timeout`` seconds at most; for ``os._exit``.

    ``os._exit`` skips the flush that logging does at a normal exit, so the records a
    buffering handler (``logging.handlers.MemoryHandler``) holds would be lost. The flush runs
    in a thread of its own: a handler whose lock is held by a thread stuck writing, or by the
    code a signal interrupted, must not keep the process from exiting.
    """

    def flush() -> None:
        for handler in _handlers():
            with contextlib.suppress(Exception):  # one broken handler must not stop the rest
                handler.flush()

    thread = threading.Thread(target=flush, name="autosched-flush-logs", daemon=True)
    thread.start()
    thread.join(timeout)


class Stoppable(Protocol):
    def request_stop(self) -> None: ...


def threads_blocking_exit(timeout: float = 1.0) -> list[threading.Thread]:
    """Return the threads still running a sync task after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    blocking = []
    for thread in threading.enumerate():
        # Only our run threads: an idle worker of some other pool (asgiref's, say) is told to
        # end by concurrent.futures at interpreter exit and holds nothing up.
        if thread.daemon or not thread.name.startswith(RUN_THREAD_PREFIX):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            blocking.append(thread)
    return blocking


@contextlib.contextmanager
def stop_on_signals(
    runner: Stoppable, *, force_exit: Callable[[int], NoReturn] = os._exit
) -> Iterator[None]:
    """Stop ``runner`` on SIGINT/SIGTERM, force an exit on a second one; restore handlers.

    A forced exit skips the drain and the release of the lease: a standby takes over once
    the lease expires (``AUTOSCHED_LEASE_TTL``).
    """
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may set handlers (call_command from a thread, say).
        yield
        return
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if received:
            with contextlib.suppress(Exception):  # flushing from a handler may re-enter
                sys.stdout.flush()
                sys.stderr.flush()
            flush_logging()
            os.write(2, b"Forced exit: running tasks were not waited for.\n")
            force_exit(128 + signum)  # 130 for SIGINT, 143 for SIGTERM, as a shell reports
        received.append(signum)
        runner.request_stop()

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, handle) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            logger.info("Stopped on %s.", ", then ".join(signal.Signals(s).name for s in received))
