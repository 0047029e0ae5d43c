"""The five core workloads. Each runs in a fresh child process against one implementation.

Lateness of a run = (monotonic time its function body starts) - (its slot anchor + k*interval),
k = round((start - anchor) / interval), never below 1. "Expected" fires = slots that fall
strictly inside the measured window. CPU = ``time.process_time()`` over the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _core_impls import Impl

Fire = tuple[int, float]  # (task index, monotonic time the body started)

# After the window ends the scheduler keeps running this long, so that a run due just before
# the end but started late is still seen (and its lateness counted). Slots inside the tail
# are neither expected nor counted. CPU is read at the window's end, not after the tail.
TAIL = 0.1


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def async_recorder(fires: list[Fire], i: int) -> Callable[[], Awaitable[None]]:
    append = fires.append
    now = time.monotonic

    async def run() -> None:
        append((i, now()))

    return run


def pct(sorted_vals: list[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_vals:
        return None
    idx = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100 * len(sorted_vals)) - 1))
    return sorted_vals[idx]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1e3, 3)


def analyse(
    fires: list[Fire], anchors: list[float], interval: float, window_end: float
) -> dict[str, Any]:
    """Match fires to slots; lateness stats over slots strictly inside the window."""
    seen: set[tuple[int, int]] = set()
    late: list[float] = []
    dup = 0
    for i, t in fires:
        anchor = anchors[i]
        k = max(1, round((t - anchor) / interval))
        slot = anchor + k * interval
        if slot >= window_end:
            continue
        if (i, k) in seen:
            dup += 1
            continue
        seen.add((i, k))
        late.append(t - slot)
    expected = sum(max(0, math.ceil((window_end - a) / interval) - 1) for a in anchors)
    late.sort()
    return {
        "fires": len(seen),
        "expected": expected,
        "dup": dup,
        "p50_ms": ms(pct(late, 50)),
        "p99_ms": ms(pct(late, 99)),
        "max_ms": ms(late[-1] if late else None),
        "min_ms": ms(late[0] if late else None),
    }


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------------- workloads
async def _spread_adds(
    impl: Impl, n_tasks: int, batches: int, spread: float, interval: float, window: float
) -> dict[str, Any]:
    """Add n_tasks async recorders in `batches` evenly spaced batches over `spread` seconds,
    while the scheduler runs; measure for `window` seconds from the first add."""
    fires: list[Fire] = []
    funcs = [async_recorder(fires, i) for i in range(n_tasks)]
    anchors = [0.0] * n_tasks
    per_batch = n_tasks // batches
    await impl.start()
    cpu0 = time.process_time()
    t0 = time.monotonic()
    i = 0
    for b in range(batches):
        await sleep_until(t0 + b * spread / batches)
        for _ in range(per_batch):
            add_time = time.monotonic()
            anchors[i] = impl.add(f"t{i}", funcs[i], interval, add_time)
            i += 1
    end = t0 + window
    await sleep_until(end)
    cpu = time.process_time() - cpu0
    await sleep_until(end + TAIL)
    await impl.stop()
    result = analyse(fires, anchors, interval, end)
    result["cpu_s"] = round(cpu, 3)
    return result


async def accuracy(impl: Impl) -> dict[str, Any]:
    """100 async tasks at 1 s, added one by one over 1 s; 5.5 s from the first add."""
    return await _spread_adds(impl, 100, 100, 1.0, 1.0, 5.5)


async def throughput(impl: Impl) -> dict[str, Any]:
    """10,000 async no-op tasks at 1 s, 100 batches of 100 over 1 s; 5.5 s from the first add."""
    return await _spread_adds(impl, 10_000, 100, 1.0, 1.0, 5.5)


async def burst(impl: Impl) -> dict[str, Any]:
    """10,000 async tasks added in one synchronous batch (one add_time): first-slot lateness."""
    n, interval = 10_000, 1.0
    fires: list[Fire] = []
    all_fired = asyncio.Event()
    append = fires.append
    now = time.monotonic

    def recorder(i: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            append((i, now()))
            if len(fires) >= n:
                all_fired.set()

        return run

    funcs = [recorder(i) for i in range(n)]
    anchors = [0.0] * n
    await impl.start()
    add_time = time.monotonic()
    for i in range(n):
        # The clock read per add only serves the informative "own" figure below.
        anchors[i] = impl.add(f"t{i}", funcs[i], interval, time.monotonic())
    add_loop = time.monotonic() - add_time
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_fired.wait(), timeout=interval + 10)
    elapsed = time.monotonic() - add_time
    await impl.stop()
    first = fires[:n]
    late = sorted(t - (add_time + interval) for _, t in first)
    # Informative: against each task's own add time (APScheduler: its trigger start), which
    # leaves out how long the add loop took before that task's add.
    own = sorted(t - (anchors[i] + interval) for i, t in first)
    return {
        "fires": len({i for i, _ in first}),
        "expected": n,
        "p50_ms": ms(pct(late, 50)),
        "p99_ms": ms(pct(late, 99)),
        "max_ms": ms(late[-1] if late else None),
        "min_ms": ms(late[0] if late else None),
        "own_p99_ms": ms(pct(own, 99)),
        "add_loop_ms": ms(add_loop),
        "elapsed_s": round(elapsed, 3),
    }


async def _idle_noop() -> None:
    return None


async def idle(impl: Impl) -> dict[str, Any]:
    """100,000 async tasks at 3600 s, added with the scheduler already running (one
    synchronous loop); then 1 s to settle, then CPU % over 10 s of idling; peak RSS."""
    n, interval, settle, window = 100_000, 3600, 1.0, 10.0
    names = [f"t{i}" for i in range(n)]
    await impl.start()
    rss_base = rss_mb()
    add = impl.add
    c0 = time.process_time()
    t0 = time.perf_counter()
    for name in names:
        add(name, _idle_noop, interval, 0.0)
    add_s = time.perf_counter() - t0
    add_cpu = time.process_time() - c0
    cpu0 = time.process_time()
    await asyncio.sleep(settle)
    cpu1 = time.process_time()
    w0 = time.monotonic()
    await asyncio.sleep(window)
    cpu2 = time.process_time()
    wall = time.monotonic() - w0
    result = {
        "add_us": round(add_s / n * 1e6, 2),
        "add_cpu_us": round(add_cpu / n * 1e6, 2),
        "settle_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_pct": round((cpu2 - cpu1) / wall * 100, 3),
        "rss_peak_mb": rss_mb(),
        "rss_base_mb": rss_base,
    }
    await impl.stop()
    return result


async def slow_neighbour(impl: Impl) -> dict[str, Any]:
    """A sync task that sleeps 3 s, every 1 s, beside an async task every 1 s; 7.5 s."""
    interval, window = 1.0, 7.5
    fast: list[Fire] = []
    slow: list[Fire] = []

    def blocker() -> None:
        slow.append((0, time.monotonic()))
        time.sleep(3)

    await impl.start()
    t0 = time.monotonic()
    impl.add("slow", blocker, interval, time.monotonic())
    fast_anchor = impl.add("fast", async_recorder(fast, 0), interval, time.monotonic())
    end = t0 + window
    await sleep_until(end)
    fast_in = sorted(t for _, t in fast if t < end)
    slow_fires = sum(1 for _, t in slow if t < end)
    await impl.stop()
    gaps = [b - a for a, b in itertools.pairwise(fast_in)]
    stats = analyse([(0, t) for t in fast_in], [fast_anchor], interval, end)
    return {
        "fast_fires": len(fast_in),
        "fast_expected": stats["expected"],
        "max_gap_s": round(max(gaps), 4) if gaps else None,
        "fast_max_late_ms": stats["max_ms"],
        "slow_fires": slow_fires,
    }


WORKLOADS: dict[str, Callable[[Impl], Awaitable[dict[str, Any]]]] = {
    "accuracy": accuracy,
    "throughput": throughput,
    "burst": burst,
    "idle": idle,
    "slow": slow_neighbour,
}
