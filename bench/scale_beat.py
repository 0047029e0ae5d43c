"""bench/scale.py's workloads for django-celery-beat 2.9's ``DatabaseScheduler``.

Run by bench/scale.py in a virtualenv with django-celery-beat, celery and redis (it declares
Django < 6.1), on a fresh PostgreSQL database: ``python bench/scale_beat.py --child KIND N``.
Beat ticks as ``celery beat`` does (``tick()``, then sleep what it returns) and sends to a
Redis broker; a send is a message in Redis, counted there (``LLEN celery``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import time
from typing import Any

from scale import BEAT_DB, LEAD, Result, Watcher, emit, percentile, redis_client

#: Longest a burst is given: beat sends far slower than it is due.
CAP = 30.0


def setup() -> Any:
    os.environ["DJANGO_SETTINGS_MODULE"] = "beat_settings"
    import django

    django.setup()
    from celery import Celery  # type: ignore[import-untyped]

    redis_client(BEAT_DB).flushdb()
    return Celery("bench", broker=f"redis://127.0.0.1:6379/{BEAT_DB}", set_as_current=True)


def make_rows(count: int, every: int, last_run_at: Any) -> None:
    from django_celery_beat.models import (  # type: ignore[import-untyped]
        IntervalSchedule,
        PeriodicTask,
        PeriodicTasks,
    )

    schedule = IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)
    for first in range(0, count, 5000):
        PeriodicTask.objects.bulk_create(
            PeriodicTask(
                name=f"task-{number:06d}",
                task="bench.noop",
                interval=schedule,
                last_run_at=last_run_at(number),
            )
            for number in range(first, min(count, first + 5000))
        )
    PeriodicTasks.update_changed()


def tick_until(beat: Any, stop: Any) -> None:
    """Tick like ``celery beat``'s service loop until ``stop()``."""
    while not stop():
        interval = beat.tick()
        if interval and interval > 0:
            time.sleep(min(interval, 0.05))


def at(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def child_burst(rows: int) -> Result:
    app = setup()
    from django_celery_beat.schedulers import DatabaseScheduler  # type: ignore[import-untyped]

    slot = math.ceil(time.time()) + LEAD
    make_rows(rows, 3600, lambda _: at(slot - 3600))  # all due at the slot
    client = redis_client(BEAT_DB)
    watcher = Watcher(lambda: int(client.llen("celery")), rows)
    beat = DatabaseScheduler(app=app, lazy=False)
    tick_until(beat, lambda: watcher.last is not None or time.time() > slot + CAP)
    watcher.wait(1)
    return {
        "rows": rows,
        "seen": watcher.seen,
        "cap_s": CAP,
        "first_s": None if watcher.first is None else watcher.first - slot,
        "last_s": None if watcher.last is None else watcher.last - slot,
    }


def child_sustained(rate: int, seconds: int) -> Result:
    app = setup()
    from django_celery_beat.schedulers import DatabaseScheduler  # type: ignore[import-untyped]

    start = math.ceil(time.time()) + LEAD
    # Due at start + number / rate, then every second: spread over the second.
    make_rows(rate, 1, lambda number: at(start - 1 + number / rate))
    window = (start + 2, start + 2 + seconds)
    late: list[float] = []

    class Timed(DatabaseScheduler):  # type: ignore[misc]
        def apply_entry(self, entry: Any, producer: Any = None) -> None:
            due = (entry.last_run_at + entry.schedule.run_every).timestamp()
            super().apply_entry(entry, producer=producer)
            now = time.time()
            if window[0] <= now < window[1]:
                late.append(now - due)

    beat = Timed(app=app, lazy=False)
    tick_until(beat, lambda: time.time() >= window[1])
    return {
        "rate": rate,
        "seconds": seconds,
        "per_second": len(late) / seconds,
        "p50_ms": percentile(late, 0.5) * 1000 if late else None,
        "p99_ms": percentile(late, 0.99) * 1000 if late else None,
        "max_ms": max(late) * 1000 if late else None,
    }


def child_reload(rows: int) -> Result:
    app = setup()
    from django_celery_beat.models import PeriodicTasks  # type: ignore[import-untyped]
    from django_celery_beat.schedulers import DatabaseScheduler  # type: ignore[import-untyped]

    make_rows(rows, 3600, lambda _: None)
    started = time.perf_counter()
    beat = DatabaseScheduler(app=app, lazy=False)
    beat.tick()
    startup = time.perf_counter() - started
    beat.tick()
    PeriodicTasks.update_changed()  # what saving any task does: the next tick reads every row
    started = time.perf_counter()
    beat.tick()
    reload = time.perf_counter() - started
    return {"startup_tick_ms": startup * 1000, "reload_tick_ms": reload * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", required=True)
    kind, *rest = parser.parse_args().child
    if kind == "burst":
        emit(child_burst(int(rest[0])))
    elif kind == "sustained":
        emit(child_sustained(int(rest[0]), int(rest[1])))
    elif kind == "reload":
        emit(child_reload(int(rest[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
