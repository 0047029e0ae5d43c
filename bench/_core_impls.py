"""The three schedulers that ``bench/core.py`` compares, behind one small adapter interface.

Each adapter is used from inside a running event loop:

    impl = make_impl(name)
    await impl.start()                      # scheduler running in the background
    anchor = impl.add(name, func, interval, add_time)
    await impl.stop()                       # returns once in-flight runs have ended

``add`` returns the anchor of the task's slot grid on the ``time.monotonic()`` clock: slot ``k``
is due at ``anchor + k * interval``. For autosched and the floor this is ``add_time`` (the
caller's clock reading right before the add call, as the benchmark defines it); APScheduler
keeps its grid on the wall clock from its trigger's ``start_date``, so its anchor is converted
from that (``start_date - interval``, moved to the monotonic clock).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Set by ``core.py --observe``: "import" loads the Prometheus exporter only, "count" counts
#: autosched's runs for it, "listen" also serves /metrics, "scrape" also scrapes it once,
#: SCRAPE_AFTER seconds in.
OBSERVE_ENV = "AUTOSCHED_BENCH_OBSERVE"
SCRAPE_AFTER = 2.75
IMPLS = ("autosched", "apscheduler", "floor")
TITLES = {"autosched": "autosched", "apscheduler": "APScheduler 3.11", "floor": "floor"}


def quiet_loggers() -> None:
    """Keep scheduler logging at WARNING so its cost is not part of what is measured."""
    for name in ("autosched", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Impl:
    """Interface of an adapter (see module docstring)."""

    name = "?"

    async def start(self) -> None:
        raise NotImplementedError

    def add(self, name: str, func: Callable[[], Any], interval: float, add_time: float) -> float:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Facts about the implementation to print under the table."""
        return {}


# --------------------------------------------------------------------------------- autosched
class AutoschedImpl(Impl):
    name = "autosched"

    def __init__(self) -> None:
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        from autosched.scheduler import Scheduler

        self._cls = Scheduler
        self._server: Any = None
        self.scraped = 0  # bytes of the one scrape of /metrics, when observed
        self.sched: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sched = self._cls()
        if os.environ.get(OBSERVE_ENV):
            self._observe(self.sched)
        self._task = asyncio.create_task(self.sched.start())
        for _ in range(1000):
            await asyncio.sleep(0)
            if self.sched.is_running():
                return
        await asyncio.sleep(0.05)

    def add(self, name: str, func: Callable[[], Any], interval: float, add_time: float) -> float:
        self.sched.add_task(name, func, interval)
        return add_time

    async def stop(self) -> None:
        self.sched.stop()
        assert self._task is not None
        await self._task
        if self._server is not None:
            self._server.close()

    def _observe(self, scheduler: Any) -> None:
        """Count runs for Prometheus, serve /metrics, and scrape it once if asked."""
        import urllib.request

        import django
        from django.conf import settings

        if not settings.configured:  # the runner's package loads the app's models
            apps = ["django.contrib.contenttypes", "django.contrib.auth", "autosched"]
            settings.configure(INSTALLED_APPS=apps, USE_TZ=True)
            django.setup()
        from autosched.runner.metrics import MetricsServer, SchedulerMetrics

        if os.environ[OBSERVE_ENV] == "import":  # the imports alone: the baseline's twin
            return
        metrics = SchedulerMetrics(scheduler)
        metrics.attach()
        if os.environ[OBSERVE_ENV] == "count":  # the counting alone, nothing served
            return
        self._server = server = MetricsServer(metrics.registry, "127.0.0.1:0")

        def scrape() -> None:
            url = f"http://127.0.0.1:{server.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                self.scraped = len(response.read())

        if os.environ[OBSERVE_ENV] == "scrape":
            # As runscheduler does: the loop takes the GIL back soon from the scrape's thread.
            sys.setswitchinterval(0.001)
            threading.Timer(SCRAPE_AFTER, scrape).start()

    def info(self) -> dict[str, Any]:
        sched = self.sched
        facts: dict[str, Any] = {}
        for attr in ("max_workers", "grace_period", "wakeups"):
            if sched is not None and hasattr(sched, attr):
                facts[attr.lstrip("_")] = getattr(sched, attr)
        if os.environ.get(OBSERVE_ENV):
            facts["metrics_scraped_bytes"] = self.scraped
        return facts


# ------------------------------------------------------------------------------- APScheduler
def _wall_minus_mono() -> float:
    """``time.time() - time.monotonic()``, from the tightest of a few paired readings."""
    best: tuple[float, float] | None = None
    for _ in range(20):
        m1 = time.monotonic()
        w = time.time()
        m2 = time.monotonic()
        if best is None or m2 - m1 < best[0]:
            best = (m2 - m1, w - (m1 + m2) / 2)
    assert best is not None
    return best[1]


class APSchedulerImpl(Impl):
    name = "apscheduler"

    def __init__(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._cls = AsyncIOScheduler
        self.sched: Any = None
        self._offset = 0.0
        # How far each trigger's first-run time lies from add_time + interval (seconds).
        self._first_run_dev_min = float("inf")
        self._first_run_dev_max = float("-inf")

    async def start(self) -> None:
        self._offset = _wall_minus_mono()
        self.sched = self._cls()
        self.sched.start()
        await asyncio.sleep(0)

    def add(self, name: str, func: Callable[[], Any], interval: float, add_time: float) -> float:
        job = self.sched.add_job(
            func,
            "interval",
            seconds=interval,
            id=name,
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
        )
        first_run = job.trigger.start_date.timestamp() - self._offset
        dev = first_run - (add_time + interval)
        self._first_run_dev_min = min(self._first_run_dev_min, dev)
        self._first_run_dev_max = max(self._first_run_dev_max, dev)
        return first_run - interval

    async def stop(self) -> None:
        # AsyncIOScheduler.shutdown defers the real work to the loop; give it a turn.
        self.sched.shutdown(wait=False)
        await asyncio.sleep(0.01)

    def info(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "executor": "AsyncIOExecutor: async jobs as loop tasks, sync jobs in the loop's "
            "default ThreadPoolExecutor",
            "sync_pool_workers": min(32, (os.cpu_count() or 1) + 4),
        }
        if self._first_run_dev_max != float("-inf"):
            facts["first_run_minus_add_plus_interval_us"] = [
                round(self._first_run_dev_min * 1e6, 1),
                round(self._first_run_dev_max * 1e6, 1),
            ]
        return facts


# ------------------------------------------------------------------------------------- floor
class _FloorTask:
    """One timer per task; the callback starts the run and re-arms at anchor + k*interval."""

    __slots__ = ("anchor", "func", "handle", "interval", "is_async", "k", "owner", "running")

    def __init__(
        self, owner: FloorImpl, func: Callable[[], Any], interval: float, anchor: float
    ) -> None:
        self.owner = owner
        self.func = func
        self.interval = interval
        self.anchor = anchor
        self.is_async = inspect.iscoroutinefunction(func)
        self.k = 1
        self.running: asyncio.Future[Any] | None = None
        self.handle = owner.loop.call_at(anchor + interval, self.fire)

    def fire(self) -> None:
        owner = self.owner
        loop = owner.loop
        running = self.running
        if running is None or running.done():  # same no-overlap policy as the others
            if self.is_async:
                self.running = loop.create_task(self.func())
            else:
                self.running = loop.run_in_executor(owner.pool, self.func)
        k = self.k + 1
        due = self.anchor + k * self.interval
        now = loop.time()
        if due <= now:  # coalesce missed slots
            k = int((now - self.anchor) // self.interval) + 1
            due = self.anchor + k * self.interval
        self.k = k
        self.handle = loop.call_at(due, self.fire)


class FloorImpl(Impl):
    name = "floor"
    POOL_WORKERS = 64

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.pool = ThreadPoolExecutor(max_workers=self.POOL_WORKERS)
        self.tasks: list[_FloorTask] = []

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()

    def add(self, name: str, func: Callable[[], Any], interval: float, add_time: float) -> float:
        # The floor reads its own clock at add, exactly as a real scheduler must.
        self.tasks.append(_FloorTask(self, func, interval, self.loop.time()))
        return add_time

    async def stop(self) -> None:
        for task in self.tasks:
            task.handle.cancel()
        in_flight = [t.running for t in self.tasks if t.running is not None]
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        self.pool.shutdown(wait=True)

    def info(self) -> dict[str, Any]:
        return {"sync_pool_workers": self.POOL_WORKERS}


def make_impl(name: str) -> Impl:
    if name == "autosched":
        return AutoschedImpl()
    if name == "apscheduler":
        return APSchedulerImpl()
    if name == "floor":
        return FloorImpl()
    raise ValueError(f"unknown implementation {name!r}")
