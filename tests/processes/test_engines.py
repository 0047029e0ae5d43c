"""Enqueue mode on the engines users already run: two RQ workers, then two Celery workers.

Ten worker rows every 2 s for 14 s: every slot is executed exactly once, on a worker (the task
records its slot, its pid and its parent's: RQ forks a work horse per job, Celery's pool runs
tasks in a child), never in the scheduler process. An eleventh row fails at every run, and
``schedulerstatus`` reports the workers' outcomes of both kinds. A missing Redis or RabbitMQ
fails the test.
"""

from __future__ import annotations

import math
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autosched.models import PeriodicTask
from tests.processes.engines import (
    celery_queue,
    celery_ready,
    celery_worker_command,
    engine_env,
    rq_failed,
    rq_pending,
    rq_queue,
    rqworker_args,
)
from tests.processes.helpers import (
    ACTIVE,
    ALIAS,
    CommandProcess,
    key,
    postgres_only,
    process_env,
    read_runs,
)
from tests.processes.test_workers import status_json
from tests.waiting import wait_until

# Two workers and a scheduler to start, 14 s of schedule, a drain: more than the default 60 s
# on a loaded machine would mean something is wrong, but not by much.
pytestmark = [postgres_only, pytest.mark.timeout(150)]

ROWS, INTERVAL, SECONDS = 10, 2, 14
#: Slots this close to the scheduler's start or stop may or may not be enqueued.
EDGE = 1.0


@dataclass(frozen=True)
class SlotRun:
    """One executed slot, as the task recorded it."""

    row: str
    slot: int
    pid: int
    ppid: int


def slot_runs(log: Path) -> list[SlotRun]:
    runs = []
    for run in read_runs(log):
        if run.name.startswith("engine:"):
            _, row, slot, ppid = run.name.split(":")
            runs.append(SlotRun(row, int(slot), run.pid, int(ppid)))
    return runs


def failed_pids(log: Path) -> set[int]:
    return {run.pid for run in read_runs(log) if run.name == "fail"}


def create_rows(queue: str) -> None:
    PeriodicTask.objects.using(ALIAS).bulk_create(
        PeriodicTask(
            name=f"engine-{number:02}",
            function=key("on_engine"),
            interval_seconds=INTERVAL,
            offset_seconds=number % INTERVAL,  # half on even seconds, half on odd
            kwargs={"row": f"engine-{number:02}"},
            run_on="worker",
            queue_name=queue,
        )
        for number in range(ROWS)
    )
    PeriodicTask.objects.using(ALIAS).create(
        name="engine-fail",
        function=key("fail"),
        interval_seconds=INTERVAL,
        run_on="worker",
        queue_name=queue,
    )


def run_schedule(
    start: Callable[..., CommandProcess], database: str, log: Path, env: dict[str, str]
) -> tuple[float, float]:
    """Run the scheduler for ``SECONDS``; return the wall-clock times it was active between.

    Before it stops, check what ``schedulerstatus`` says of the workers' last runs.
    """
    scheduler = start("runscheduler", "--sync-interval", "0.5", **env)
    scheduler.wait_for_output(ACTIVE)
    active = time.time()
    time.sleep(SECONDS)  # the schedule under test: 7 slots a row
    stopped = time.time()
    tasks = status_json(database, log.with_name("status.log"))["tasks"]
    assert scheduler.stop(signal.SIGTERM) == 0, str(scheduler)
    assert "Traceback" not in scheduler.output, str(scheduler)

    failing, fine = tasks["engine-fail"], tasks["engine-00"]
    assert failing["last_outcome"] == "error", failing
    assert failing["last_error"] == "ValueError: failing on a worker on purpose"
    assert failing["worker_pid"] in failed_pids(log)
    assert failing["enqueue_outcome"] == "ok"
    assert fine["last_outcome"] == "ok", fine
    assert fine["worker_pid"] in {run.pid for run in slot_runs(log) if run.row == "engine-00"}
    assert scheduler.pid not in failed_pids(log) | {failing["worker_pid"], fine["worker_pid"]}
    return active, stopped


def assert_every_slot_ran_once_on_a_worker(
    log: Path, workers: list[CommandProcess], active: float, stopped: float
) -> None:
    runs = slot_runs(log)
    worker_pids = {worker.pid for worker in workers}
    twice = [slot for slot, count in Counter((r.row, r.slot) for r in runs).items() if count > 1]
    assert not twice, f"slots executed more than once: {twice}"
    elsewhere = [r for r in runs if worker_pids.isdisjoint({r.pid, r.ppid})]
    assert not elsewhere, f"runs outside the workers {worker_pids}: {elsewhere}"
    assert {r.ppid if r.ppid in worker_pids else r.pid for r in runs} == worker_pids
    for number in range(ROWS):
        row, offset = f"engine-{number:02}", number % INTERVAL
        ran = sorted(r.slot for r in runs if r.row == row)
        assert all(slot % INTERVAL == offset for slot in ran), (row, ran)
        assert all(active - EDGE <= slot <= stopped + EDGE for slot in ran), (row, ran)
        first = math.ceil((active + EDGE - offset) / INTERVAL) * INTERVAL + offset
        due = list(range(first, math.floor(stopped - EDGE) + 1, INTERVAL))
        assert set(due) <= set(ran), f"{row}: slots {sorted(set(due) - set(ran))} never ran"
    assert len(runs) >= ROWS * (SECONDS // INTERVAL - 1)


def quiet(log: Path, seconds: float) -> Callable[[], bool]:
    """Return a condition that holds once ``log`` has not grown for ``seconds``."""
    last = {"size": -1, "since": time.monotonic()}

    def holds() -> bool:
        size = log.stat().st_size
        if size != last["size"]:
            last.update(size=size, since=time.monotonic())
        return time.monotonic() - last["since"] >= seconds

    return holds


# RQ ------------------------------------------------------------------------------------------


@pytest.fixture
def rq() -> Iterator[str]:
    with rq_queue() as queue:
        yield queue


def test_rq_workers_run_every_slot_exactly_once(
    process_database: str, start: Callable[..., CommandProcess], runs_log: Path, rq: str
) -> None:
    env = engine_env("rq", rq)
    create_rows(rq)
    workers = [start(*rqworker_args(rq), **env) for _ in range(2)]
    for worker in workers:
        worker.wait_for_output("Listening on")

    active, stopped = run_schedule(start, process_database, runs_log, env)

    workers[0].wait_for(lambda: rq_pending(rq) == 0, "the RQ workers to drain the queue")
    for worker in workers:
        assert worker.stop(signal.SIGTERM) == 0, str(worker)
    assert rq_pending(rq) == 0
    assert rq_failed(rq) == len(failed_pids(runs_log)) > 0  # the failing row's runs, no other
    assert_every_slot_ran_once_on_a_worker(runs_log, workers, active, stopped)


# Celery --------------------------------------------------------------------------------------


@pytest.fixture
def celery() -> Iterator[str]:
    with celery_queue() as queue:
        yield queue


def test_celery_workers_run_every_slot_exactly_once(
    process_database: str,
    start: Callable[..., CommandProcess],
    procs: list[CommandProcess],
    runs_log: Path,
    celery: str,
) -> None:
    env = engine_env("celery", celery)
    create_rows(celery)
    workers = []
    for node in ("w1", "w2"):
        worker = CommandProcess(
            celery_worker_command(celery, node), process_env(process_database, runs_log, **env)
        )
        procs.append(worker)
        workers.append(worker)
    for worker in workers:
        worker.wait_for_output(" ready.", timeout=30)

    active, stopped = run_schedule(start, process_database, runs_log, env)

    # A Celery worker holds a few messages ahead (prefetch), which the broker no longer counts:
    # wait until the queue is empty and the runs stopped coming. Stopping a worker returns any
    # message it held unexecuted, which the check after the stop would find.
    workers[0].wait_for(lambda: celery_ready(celery) == 0, "the Celery workers to drain")
    wait_until(quiet(runs_log, seconds=2.0), "the last runs to end", timeout=20)
    for worker in workers:
        assert worker.stop(signal.SIGTERM) == 0, str(worker)
    assert celery_ready(celery) == 0
    for worker in workers:
        assert "unregistered task" not in worker.output, str(worker)
    assert_every_slot_ran_once_on_a_worker(runs_log, workers, active, stopped)
