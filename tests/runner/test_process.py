"""What runscheduler does to its OS process: stop on SIGINT/SIGTERM, exit past stuck threads."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

import pytest

from autosched.runner import (
    FORCED_EXIT_STATUS,
    SchedulerRunner,
    favour_the_loop,
    flush_logging,
    stop_on_signals,
    threads_blocking_exit,
)
from autosched.scheduler import RUN_THREAD_PREFIX

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_connections"),
]


def test_first_signal_requests_a_stop_and_handlers_are_restored() -> None:
    runner = SchedulerRunner(sync_interval=1)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signals(runner):
        signal.raise_signal(signal.SIGTERM)
        assert runner.stop_requested
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_second_sigint_forces_an_exit() -> None:
    runner = SchedulerRunner(sync_interval=1)
    statuses: list[int] = []

    def force_exit(status: int) -> NoReturn:
        statuses.append(status)
        raise SystemExit(status)

    with stop_on_signals(runner, force_exit=force_exit):
        signal.raise_signal(signal.SIGINT)
        assert statuses == []
        with pytest.raises(SystemExit):
            signal.raise_signal(signal.SIGINT)
    assert statuses == [FORCED_EXIT_STATUS]


def test_second_sigterm_forces_an_exit_with_143() -> None:
    runner = SchedulerRunner(sync_interval=1)
    statuses: list[int] = []

    def force_exit(status: int) -> NoReturn:
        statuses.append(status)
        raise SystemExit(status)

    with stop_on_signals(runner, force_exit=force_exit):
        signal.raise_signal(signal.SIGTERM)
        assert runner.stop_requested
        with pytest.raises(SystemExit):
            signal.raise_signal(signal.SIGTERM)
    assert statuses == [143]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def buffered() -> Iterator[Collect]:
    """A MemoryHandler on the autosched logger that passes records on only when flushed."""
    target = Collect()
    buffer = logging.handlers.MemoryHandler(10_000, flushLevel=logging.CRITICAL, target=target)
    logger = logging.getLogger("autosched")
    logger.addHandler(buffer)
    try:
        yield target
    finally:
        logger.removeHandler(buffer)
        buffer.close()


def test_a_forced_exit_flushes_buffered_log_records_first(buffered: Collect) -> None:
    runner = SchedulerRunner(sync_interval=1)
    seen_at_exit: list[str] = []

    def force_exit(status: int) -> NoReturn:
        seen_at_exit.extend(buffered.messages)
        raise SystemExit(status)

    with stop_on_signals(runner, force_exit=force_exit):
        signal.raise_signal(signal.SIGINT)
        logging.getLogger("autosched").warning("held in the buffer")
        assert buffered.messages == []
        with pytest.raises(SystemExit):
            signal.raise_signal(signal.SIGINT)
    assert seen_at_exit == ["held in the buffer"]


def test_flush_logging_reaches_a_target_on_no_logger(buffered: Collect) -> None:
    logging.getLogger("autosched.some.module").warning("buffered deep down")
    flush_logging()
    assert buffered.messages == ["buffered deep down"]


async def test_signals_are_left_alone_off_the_main_thread() -> None:
    runner = SchedulerRunner(sync_interval=1)

    def enter() -> object:
        with stop_on_signals(runner):
            return signal.getsignal(signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    assert await asyncio.to_thread(enter) is before


def test_threads_blocking_exit_reports_only_run_threads_still_busy() -> None:
    release = threading.Event()
    idle_pool = ThreadPoolExecutor(max_workers=1)  # like asgiref's: idle, ended at exit
    idle = idle_pool.submit(threading.current_thread).result()
    busy_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=RUN_THREAD_PREFIX)
    started = threading.Event()

    def work() -> threading.Thread:
        started.set()
        release.wait(5)
        return threading.current_thread()

    busy = busy_pool.submit(work)
    started.wait(5)
    try:
        blocking = threads_blocking_exit(timeout=0.05)
    finally:
        release.set()
        idle_pool.shutdown()
        busy_pool.shutdown()
    assert busy.result() in blocking
    assert idle not in blocking


def test_favour_the_loop_shortens_the_switch_interval_only() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        favour_the_loop()
        assert sys.getswitchinterval() == pytest.approx(0.001)
        sys.setswitchinterval(0.0005)  # shorter already: left alone
        favour_the_loop()
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)
