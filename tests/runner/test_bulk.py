"""EnqueueBatcher: runs due together go in batches, from threads, each with its own outcome."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence

import pytest

from autosched.enqueue import BackendFailed, EnqueueError, RunToEnqueue
from autosched.runner.bulk import EnqueueBatcher
from autosched.runner.calls import enqueuer
from autosched.scheduler import AlreadyReported, GateClosed, Scheduler
from tests.runner.helpers import FakeClock
from tests.scheduler.helpers import running


class FakeBackend:
    """An ``enqueue_many`` that records its batches, and fails the runs it is told to."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.threads: set[str] = set()
        self.refuse: set[str] = set()  # run names refused like a queue the backend lacks
        self.down = False  # fail every run like a database that does not answer
        self.hold: threading.Event | None = None  # block each batch until it is set

    def __call__(self, backend: str, runs: Sequence[RunToEnqueue]) -> list[EnqueueError | None]:
        self.threads.add(threading.current_thread().name)
        if self.hold is not None:
            assert self.hold.wait(5), "the test never released the batch"
        self.batches.append((backend, [run.name for run in runs]))
        errors: list[EnqueueError | None] = []
        for run in runs:
            if self.down:
                error: EnqueueError | None = BackendFailed(f"{run.name}: no database")
                assert error is not None
                error.__cause__ = ConnectionError("connection refused")
            elif run.name in self.refuse:
                error = EnqueueError(f"{run.name}: no such queue")
            else:
                error = None
            errors.append(error)
        return errors


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def batcher(backend: FakeBackend, clock: FakeClock) -> Iterator[EnqueueBatcher]:
    made = EnqueueBatcher(threads=2, max_batch=100, enqueue=backend, clock=clock)
    yield made
    made.close()


async def until_sending(backend: FakeBackend) -> None:
    """Wait until a batch has reached the backend's thread."""
    async with asyncio.timeout(5):
        while not backend.threads:  # noqa: ASYNC110 - set by a thread
            await asyncio.sleep(0.001)


async def enqueue_all(
    batcher: EnqueueBatcher, names: list[str], backend: str = "default"
) -> list[BaseException | None]:
    calls = [batcher.enqueue(backend, RunToEnqueue("k", name)) for name in names]
    async with asyncio.timeout(5):
        return await asyncio.gather(*calls, return_exceptions=True)


async def test_runs_due_together_go_in_one_batch_per_free_thread(
    batcher: EnqueueBatcher, backend: FakeBackend
) -> None:
    outcomes = await enqueue_all(batcher, [f"r{n}" for n in range(10)])
    assert outcomes == [None] * 10
    assert sorted(len(names) for _, names in backend.batches) == [5, 5]
    assert all(name.startswith("autosched-enqueue-") for name in backend.threads)


async def test_a_batch_is_at_most_max_batch_runs(backend: FakeBackend) -> None:
    batcher = EnqueueBatcher(threads=1, max_batch=4, enqueue=backend)
    try:
        await enqueue_all(batcher, [f"r{n}" for n in range(10)])
    finally:
        batcher.close()
    assert [len(names) for _, names in backend.batches] == [4, 4, 2]
    assert (batcher.batches, batcher.runs) == (3, 10)


async def test_batches_grow_while_the_threads_are_busy(backend: FakeBackend) -> None:
    backend.hold = threading.Event()
    batcher = EnqueueBatcher(threads=1, max_batch=100, enqueue=backend)
    try:
        first = asyncio.ensure_future(enqueue_all(batcher, ["alone"]))
        await until_sending(backend)
        later = asyncio.ensure_future(enqueue_all(batcher, [f"r{n}" for n in range(7)]))
        await asyncio.sleep(0)
        backend.hold.set()
        assert await first == [None]
        assert await later == [None] * 7
    finally:
        batcher.close()
    assert backend.batches == [("default", ["alone"]), ("default", [f"r{n}" for n in range(7)])]


async def test_each_run_of_a_batch_gets_its_own_outcome(
    batcher: EnqueueBatcher, backend: FakeBackend
) -> None:
    backend.refuse = {"b"}
    outcomes = await enqueue_all(batcher, ["a", "b", "c"])
    assert outcomes[::2] == [None, None]
    assert isinstance(outcomes[1], EnqueueError)
    assert str(outcomes[1]) == "b: no such queue"


async def test_a_batch_holds_runs_of_one_backend(
    batcher: EnqueueBatcher, backend: FakeBackend
) -> None:
    calls = [batcher.enqueue(alias, RunToEnqueue("k", alias)) for alias in ("db", "rq", "db")]
    async with asyncio.timeout(5):
        await asyncio.gather(*calls)
    assert all(names == [alias] * len(names) for alias, names in backend.batches)
    assert sorted(name for _, names in backend.batches for name in names) == ["db", "db", "rq"]


async def test_the_loop_runs_while_a_batch_is_sent(
    batcher: EnqueueBatcher, backend: FakeBackend
) -> None:
    backend.hold = threading.Event()
    sending = asyncio.ensure_future(enqueue_all(batcher, ["slow"]))
    ticks = 0
    while ticks < 20:  # the loop turns while the thread blocks in the backend
        await asyncio.sleep(0)
        ticks += 1
    assert not sending.done()
    backend.hold.set()
    assert await sending == [None]


async def test_an_outage_is_logged_once_with_its_cause_and_its_end(
    batcher: EnqueueBatcher,
    backend: FakeBackend,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend.down = True
    with caplog.at_level(logging.DEBUG, logger="autosched"):
        first = await enqueue_all(batcher, ["a", "b", "c"])
        clock.now += 12
        second = await enqueue_all(batcher, ["a", "b"])
        backend.down = False
        assert await enqueue_all(batcher, ["a"]) == [None]
    failed = first + second
    assert all(isinstance(outcome, AlreadyReported) for outcome in failed)
    errors = [outcome.error for outcome in failed if isinstance(outcome, AlreadyReported)]
    assert [str(error) for error in errors] == [f"{n}: no database" for n in "abcab"]
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [m for m in messages if m[0] != "DEBUG"] == [
        (
            "ERROR",
            "Cannot enqueue to backend 'default' (ConnectionError: connection refused). Its "
            "runs are reported as failed and tried again at their next slots; this is logged "
            "once until it works again.",
        ),
        (
            "WARNING",
            "Enqueueing to backend 'default' works again after 5 failed enqueue(s) in 12 s.",
        ),
    ]


async def test_a_run_refused_by_a_working_backend_is_no_outage(
    batcher: EnqueueBatcher, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.refuse = {"bad"}
    with caplog.at_level(logging.WARNING, logger="autosched"):
        outcomes = await enqueue_all(batcher, ["bad"])
        await enqueue_all(batcher, ["good"])
    assert type(outcomes[0]) is EnqueueError  # raised as it is: the core logs it per task
    assert not caplog.records


async def test_outages_are_per_backend(
    batcher: EnqueueBatcher, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.down = True
    with caplog.at_level(logging.ERROR, logger="autosched"):
        await enqueue_all(batcher, ["a"], backend="db")
        await enqueue_all(batcher, ["a"], backend="rq")
        await enqueue_all(batcher, ["a"], backend="db")
    assert ["'db'" in r.getMessage() for r in caplog.records] == [True, False]


async def test_a_closed_gate_cancels_the_batch_unsent(backend: FakeBackend) -> None:
    batcher = EnqueueBatcher(enqueue=backend, gate=lambda: False)
    try:
        outcomes = await enqueue_all(batcher, ["a", "b"])
    finally:
        batcher.close()
    assert all(isinstance(outcome, GateClosed) for outcome in outcomes)
    assert backend.batches == []


async def test_a_run_cancelled_while_waiting_is_not_sent(backend: FakeBackend) -> None:
    backend.hold = threading.Event()
    batcher = EnqueueBatcher(threads=1, enqueue=backend)
    try:
        first = asyncio.ensure_future(enqueue_all(batcher, ["first"]))
        await until_sending(backend)
        waiting = asyncio.ensure_future(batcher.enqueue("default", RunToEnqueue("k", "gone")))
        await asyncio.sleep(0)
        waiting.cancel()
        backend.hold.set()
        await first
        assert await enqueue_all(batcher, ["next"]) == [None]
    finally:
        batcher.close()
    assert [names for _, names in backend.batches] == [["first"], ["next"]]


async def test_failed_runs_of_an_outage_are_errors_in_the_core_without_a_line_each(
    batcher: EnqueueBatcher, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.down = True
    scheduler = Scheduler()
    for name in ("a", "b", "c"):
        job = enqueuer("k", name, backend="default", queue_name="q", priority=0, batcher=batcher)
        scheduler.add_task(name, job, 60)
    with caplog.at_level(logging.INFO, logger="autosched"):
        async with running(scheduler):
            for name in ("a", "b", "c"):
                scheduler.run_now(name)
            async with asyncio.timeout(5):
                while any(task.running for task in scheduler.tasks.values()):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
    for name, task in scheduler.tasks.items():
        assert (task.last_outcome, task.last_error) == (
            "error",
            f"BackendFailed: {name}: no database",
        )
    assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == ["ERROR"]
    assert sorted(name for _, names in backend.batches for name in names) == ["a", "b", "c"]
