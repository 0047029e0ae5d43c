"""Benchmark of the autosched asyncio core against APScheduler 3.11 and an asyncio "floor".

    python bench/core.py [--only accuracy,throughput,burst,idle,slow]
                         [--impl autosched,apscheduler,floor] [--repeat N] [--profile]
                         [--observe import|count|listen|scrape]

Every (workload, implementation) pair runs in its own fresh child process
(``python bench/core.py --child WORKLOAD IMPL``), which prints one JSON line. The parent prints
one side-by-side table and writes it to ``bench/results/core-<timestamp>.txt``.
See bench/README.md for what each workload measures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _core_impls import IMPLS, OBSERVE_ENV, REPO_ROOT, TITLES, make_impl, quiet_loggers
from _core_workloads import WORKLOADS

RESULT_MARK = "@@RESULT@@ "
RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHILD_TIMEOUT = 90.0
Result = dict[str, Any]


# ------------------------------------------------------------------------------------- child
def run_child(workload: str, impl_name: str, profile: bool = False) -> int:
    quiet_loggers()
    out: Result = {"workload": workload, "impl": impl_name}
    try:
        impl = make_impl(impl_name)
    except Exception as exc:
        out["error"] = f"cannot load: {type(exc).__name__}: {exc}"
        print(RESULT_MARK + json.dumps(out), flush=True)
        return 0
    gc.collect()
    t0 = time.monotonic()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        out.update(profiler.runcall(asyncio.run, WORKLOADS[workload](impl)))
        path = RESULTS_DIR / f"profile-{workload}-{impl_name}.txt"
        RESULTS_DIR.mkdir(exist_ok=True)
        with path.open("w") as fh:
            pstats.Stats(profiler, stream=fh).sort_stats("tottime").print_stats(40)
        out["profile"] = str(path.relative_to(REPO_ROOT))
    else:
        out.update(asyncio.run(WORKLOADS[workload](impl)))
    out["child_wall_s"] = round(time.monotonic() - t0, 2)
    out["info"] = impl.info()
    print(RESULT_MARK + json.dumps(out), flush=True)
    return 0


# ------------------------------------------------------------------------------------ parent
def spawn(workload: str, impl_name: str, profile: bool = False) -> Result:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", workload, impl_name]
    if profile:
        cmd.append("--profile")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env, cwd=REPO_ROOT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: Result = json.loads(line[len(RESULT_MARK) :])
            if proc.stderr.strip():
                result["stderr_tail"] = proc.stderr.strip().splitlines()[-1][:200]
            return result
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"child exited {proc.returncode}: {tail[:200]}"}


# Short, noisy workloads run several times by default; the table shows the median.
DEFAULT_REPEATS = {"accuracy": 3, "burst": 3}
FIRE_COUNTS = (("fires", "expected"), ("fast_fires", "fast_expected"))


def combine(runs: list[Result]) -> Result:
    """One result from repeated runs: median of each figure; fire counts from the worst run."""
    good = [r for r in runs if "error" not in r]
    if len(runs) == 1 or not good:
        return runs[0]
    out = dict(good[0])
    for key, value in good[0].items():
        values = [r[key] for r in good if isinstance(r.get(key), int | float)]
        if isinstance(value, bool) or not isinstance(value, int | float) or not values:
            continue
        out[key] = statistics.median(values)
    for fires, expected in FIRE_COUNTS:
        if fires in out:
            worst = min(good, key=lambda r: (r[fires] - r[expected], -r.get("dup", 0)))
            out[fires], out[expected] = worst[fires], worst[expected]
            if "dup" in worst:
                out["dup"] = max(r.get("dup", 0) for r in good)
    out["runs"] = len(good)
    out["failed_runs"] = len(runs) - len(good)
    out["all_runs"] = runs
    return out


def each_run(r: Result, key: str, digits: int) -> str:
    return "/".join(fmt_num(x.get(key), digits) for x in r.get("all_runs", [r]) if "error" not in x)


def fmt_num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def fires_str(r: Result, fires: str = "fires", expected: str = "expected") -> str:
    text = f"{r[fires]}/{r[expected]}"
    if r.get("dup"):
        text += f" (+{r['dup']} dup)"
    return text


Check = Callable[[Result, Result | None], bool | None]


def row(
    workload: str,
    label: str,
    cell: Callable[[Result], str],
    target: str = "",
    check: Check | None = None,
) -> tuple[str, str, Callable[[Result], str], str, Check | None]:
    return (workload, label, cell, target, check)


def _ratio_ok(key: str, factor: float) -> Check:
    def check(a: Result, floor: Result | None) -> bool | None:
        if floor is None or "error" in floor or a.get(key) is None or floor.get(key) is None:
            return None
        return bool(a[key] <= factor * floor[key])

    return check


ROWS = [
    row(
        "accuracy",
        "accuracy: fires / expected",
        fires_str,
        "all",
        lambda a, f: a["fires"] == a["expected"] and not a["dup"],
    ),
    row("accuracy", "accuracy: lateness p50 (ms)", lambda r: fmt_num(r["p50_ms"])),
    row(
        "accuracy",
        "accuracy: lateness p99 (ms)",
        lambda r: fmt_num(r["p99_ms"]),
        "<= 2",
        lambda a, f: a["p99_ms"] is not None and a["p99_ms"] <= 2.0,
    ),
    row("accuracy", "accuracy: p99 of each run (ms)", lambda r: each_run(r, "p99_ms", 1)),
    row("accuracy", "accuracy: lateness max (ms)", lambda r: fmt_num(r["max_ms"])),
    row("accuracy", "accuracy: CPU (s)", lambda r: fmt_num(r["cpu_s"], 3)),
    row("throughput", "throughput: fires / expected", fires_str),
    row("throughput", "throughput: lateness p50 (ms)", lambda r: fmt_num(r["p50_ms"])),
    row(
        "throughput",
        "throughput: lateness p99 (ms)",
        lambda r: fmt_num(r["p99_ms"]),
        "<= 10",
        lambda a, f: a["p99_ms"] is not None and a["p99_ms"] <= 10.0,
    ),
    row(
        "throughput",
        "throughput: CPU (s)",
        lambda r: fmt_num(r["cpu_s"], 3),
        "<= 2x floor",
        _ratio_ok("cpu_s", 2.0),
    ),
    row("burst", "burst: first slot fired", fires_str),
    row("burst", "burst: lateness p50 (ms)", lambda r: fmt_num(r["p50_ms"], 1)),
    row(
        "burst",
        "burst: lateness p99 (ms)",
        lambda r: fmt_num(r["p99_ms"], 1),
        "<= 1.5x floor",
        _ratio_ok("p99_ms", 1.5),
    ),
    row("burst", "burst: p99 of each run (ms)", lambda r: each_run(r, "p99_ms", 0)),
    row("burst", "burst: p99 vs each own add (ms)", lambda r: fmt_num(r["own_p99_ms"], 1)),
    row("burst", "burst: add loop, 10k adds (ms)", lambda r: fmt_num(r["add_loop_ms"], 1)),
    row(
        "idle",
        "idle: us per add, wall (100k)",
        lambda r: fmt_num(r["add_us"]),
        "<= 5",
        lambda a, f: a["add_us"] <= 5.0,
    ),
    row("idle", "idle: CPU us per add (same loop)", lambda r: fmt_num(r["add_cpu_us"])),
    row(
        "idle",
        "idle: CPU % over 10 s",
        lambda r: fmt_num(r["cpu_pct"], 3),
        "<= 0.1",
        lambda a, f: a["cpu_pct"] <= 0.1,
    ),
    row("idle", "idle: CPU s in 1 s settle after adds", lambda r: fmt_num(r["settle_cpu_s"], 3)),
    row(
        "idle",
        "idle: peak RSS (MB) [before adds]",
        lambda r: f"{r['rss_peak_mb']:.0f} [{r['rss_base_mb']:.0f}]",
    ),
    row(
        "slow",
        "slow neighbour: fast fires",
        lambda r: fires_str(r, "fast_fires", "fast_expected"),
        "7 of 7",
        lambda a, f: a["fast_fires"] == a["fast_expected"] == 7,
    ),
    row(
        "slow",
        "slow neighbour: max gap (s)",
        lambda r: fmt_num(r["max_gap_s"], 3),
        "<= 1.05",
        lambda a, f: a["max_gap_s"] is not None and a["max_gap_s"] <= 1.05,
    ),
    row("slow", "slow neighbour: slow task runs", lambda r: str(r["slow_fires"])),
]


def build_table(
    results: dict[tuple[str, str], Result], workloads: list[str], impls: list[str]
) -> tuple[list[str], str]:
    header = ["metric", *[TITLES[i] for i in impls], "target (autosched)"]
    lines: list[list[str]] = []
    passed = failed = unmeasured = 0
    for workload, label, cell, target, check in ROWS:
        if workload not in workloads:
            continue
        cells = [label]
        for impl in impls:
            r = results.get((workload, impl))
            if r is None:
                cells.append("")
                continue
            if "error" in r:
                cells.append("ERR")
                if impl == "autosched" and check is not None:
                    unmeasured += 1
                continue
            try:
                text = cell(r)
            except (KeyError, TypeError):
                text = "?"
            if impl == "autosched" and check is not None:
                floor = results.get((workload, "floor"))
                try:
                    ok = check(r, floor)
                except (KeyError, TypeError):
                    ok = False
                if ok is True:
                    text += " ✓"
                    passed += 1
                elif ok is False:
                    text += " ✗"
                    failed += 1
                else:
                    text += " ?"
            cells.append(text)
        cells.append(target)
        lines.append(cells)
    widths = [max(len(line[c]) for line in [header, *lines]) for c in range(len(header))]

    def render(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest]).rstrip()

    out = [render(header), "-+-".join("-" * w for w in widths)]
    out += [render(line) for line in lines]
    summary = f"autosched targets: {passed} met, {failed} missed"
    if unmeasured:
        summary += f", {unmeasured} not measured (ERR)"
    return out, summary


def notes(results: dict[tuple[str, str], Result], impls: list[str]) -> list[str]:
    out = [
        "Notes:",
        "- Each (workload, implementation) ran in its own fresh process; lateness = body start"
        " - (anchor + k*interval) on time.monotonic(); CPU = process_time over the window.",
        "- accuracy/throughput/burst/idle use async functions; slow neighbour: one sync"
        " (time.sleep(3)) task and one async task.",
        "- idle: the 100k adds are timed with the scheduler already running, in one"
        " synchronous loop, for all three; CPU % is measured after a 1 s settle.",
        "- burst: lateness is against the single add_time read before the batch, so it"
        " includes the time the add loop took; 'vs each own add' leaves that out (for"
        " APScheduler: vs each job's trigger start).",
        "- A ? in the autosched column: target is relative to the floor and the floor did not"
        " run. ERR: see the error lines below.",
    ]
    for (workload, impl), r in sorted(results.items()):
        if impl not in impls:
            continue
        if "error" in r:
            out.append(f"- ERR {workload}/{impl}: {r['error']}")
            continue
        for failed in (x for x in r.get("all_runs", []) if "error" in x):
            out.append(f"- {workload}/{impl}: one run failed, left out: {failed['error']}")
        info = r.get("info") or {}
        if impl == "apscheduler" and workload == "accuracy":
            out.append(
                f"- APScheduler: {info.get('executor')}, {info.get('sync_pool_workers')}"
                " workers on this machine; add_job(..., 'interval', coalesce=True,"
                " misfire_grace_time=None, max_instances=1)."
            )
        dev = info.get("first_run_minus_add_plus_interval_us")
        if impl == "apscheduler" and dev and workload in ("accuracy", "burst"):
            out.append(
                f"- APScheduler {workload}: first run - (add_time + interval) ="
                f" {dev[0]}..{dev[1]} us (verifies first run is one interval after add)."
            )
        if impl == "floor" and workload == "slow":
            out.append(
                f"- floor: call_at timer per task, create_task / run_in_executor"
                f" ({info.get('sync_pool_workers')} threads), skips a slot if its previous"
                " run is still going."
            )
        if impl == "autosched" and info and workload in ("accuracy", "idle"):
            out.append(f"- autosched {workload}: {info} (wakeups = timer callbacks)")
        min_ms = r.get("min_ms")
        if min_ms is not None and min_ms < -1.0:
            out.append(f"- {workload}/{impl}: a run started {-min_ms:.2f} ms BEFORE its slot.")
        if r.get("stderr_tail") and impl == "autosched":
            out.append(f"- {workload}/{impl} stderr (last line): {r['stderr_tail']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--impl", default=",".join(IMPLS), help="comma-separated implementations")
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="runs per (workload, implementation); the table shows medians"
        f" (default: 1, {', '.join(f'{w} {n}' for w, n in DEFAULT_REPEATS.items())})",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run each child under cProfile (figures get slower) and write"
        " bench/results/profile-WORKLOAD-IMPL.txt",
    )
    parser.add_argument(
        "--observe",
        choices=("import", "count", "listen", "scrape"),
        help="autosched with the Prometheus exporter's imports only (import), counting runs"
        " (count), also serving /metrics (listen), also scraped once mid-window (scrape);"
        " compare cpu_s with and without",
    )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.observe:
        os.environ[OBSERVE_ENV] = args.observe  # the children inherit it
    if args.child:
        return run_child(*args.child, profile=args.profile)

    workloads = [w.strip() for w in args.only.split(",") if w.strip()]
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    bad = [w for w in workloads if w not in WORKLOADS] + [i for i in impls if i not in IMPLS]
    if bad:
        parser.error(
            f"unknown: {', '.join(bad)} (workloads: {', '.join(WORKLOADS)};"
            f" implementations: {', '.join(IMPLS)})"
        )
    impls = [i for i in IMPLS if i in impls]

    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    t0 = time.monotonic()
    results: dict[tuple[str, str], Result] = {}
    repeats: dict[str, int] = {}
    for workload in workloads:
        repeats[workload] = n = args.repeat or DEFAULT_REPEATS.get(workload, 1)
        runs: dict[str, list[Result]] = {impl: [] for impl in impls}
        for rep in range(n):
            for impl in impls:
                tag = f"{workload} #{rep + 1}" if n > 1 else workload
                print(f"  {tag:<13} {TITLES[impl]:<17}", end="", file=sys.stderr, flush=True)
                t = time.monotonic()
                r = spawn(workload, impl, args.profile)
                runs[impl].append(r)
                status = f"ERR {r['error']}" if "error" in r else "ok"
                print(f" {time.monotonic() - t:5.1f} s  {status}", file=sys.stderr, flush=True)
        for impl in impls:
            results[(workload, impl)] = combine(runs[impl])
    total = time.monotonic() - t0
    load_after = os.getloadavg()

    table, summary = build_table(results, workloads, impls)
    head = [
        f"autosched core benchmark  {started:%Y-%m-%d %H:%M:%S} UTC  total {total:.0f} s",
        f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs;"
        f" load avg before {load_before[0]:.2f}, after {load_after[0]:.2f}",
        "",
    ]
    repeated = [f"{w} x{n}" for w, n in repeats.items() if n > 1]
    tail = ["", summary, "", *notes(results, impls)]
    if repeated:
        tail.append(
            f"- Repeated (runs interleaved; medians shown, fire counts from the worst run):"
            f" {', '.join(repeated)}."
        )
    text = "\n".join([*head, *table, *tail])
    print(text)

    RESULTS_DIR.mkdir(exist_ok=True)
    out_file = RESULTS_DIR / f"core-{started:%Y%m%d-%H%M%S}.txt"
    raw = {f"{w}/{i}": r for (w, i), r in results.items()}
    out_file.write_text(text + "\n\nRaw results:\n" + json.dumps(raw, indent=1) + "\n")
    print(f"\nwritten to {out_file.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
