"""``demo --workers``: a django-tasks-db worker beside the scheduler, on the demo's SQLite file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

from example_project.demo.management.commands.demo import WORKER_ROWS
from tests.commands.test_demo import ROOT, example_env, free_port
from tests.processes.helpers import long_test
from tests.waiting import wait_until

WORKER_ROW_NAMES = {name for name, _, _ in WORKER_ROWS}


def demo(tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--setup-only", *args],
        cwd=ROOT,
        env=example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def worker_rows(tmp_path: Path) -> dict[str, tuple[str, int]]:
    with closing(sqlite3.connect(tmp_path / "db.sqlite3")) as db:
        rows = db.execute("SELECT name, run_on, enabled FROM autosched_periodictask")
        return {name: (run_on, enabled) for name, run_on, enabled in rows if "worker" in name}


def test_workers_puts_its_rows_on_a_worker_and_a_plain_demo_disables_them(
    tmp_path: Path,
) -> None:
    demo(tmp_path, "--workers")
    assert worker_rows(tmp_path) == dict.fromkeys(WORKER_ROW_NAMES, ("worker", 1))

    output = demo(tmp_path)
    assert worker_rows(tmp_path) == dict.fromkeys(WORKER_ROW_NAMES, ("worker", 0))
    assert "Disabled 'heartbeat on a worker': it runs only with --workers." in output


@long_test
def test_workers_runs_a_db_worker_that_runs_the_worker_rows(tmp_path: Path) -> None:
    demo_process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--workers", "--port", str(free_port())],
        cwd=ROOT,
        env={**example_env(tmp_path), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert demo_process.stdout is not None
    reader = threading.Thread(target=lines.extend, args=(demo_process.stdout,), daemon=True)
    reader.start()
    try:
        ran = "Running periodic task 'heartbeat on a worker'"
        wait_until(lambda: ran in "".join(lines), "the db_worker to run a worker row", 30)

        def succeeded() -> bool:
            with closing(sqlite3.connect(tmp_path / "db.sqlite3", timeout=20)) as db:
                statuses = db.execute("SELECT status FROM django_tasks_database_dbtaskresult")
                return ("SUCCESSFUL",) in list(statuses)

        wait_until(succeeded, "a worker run recorded as SUCCESSFUL", 10)
        demo_process.send_signal(signal.SIGTERM)
        demo_process.wait(timeout=20)
    finally:
        if demo_process.poll() is None:
            demo_process.kill()
            demo_process.wait()
        reader.join(5)
        demo_process.stdout.close()
    output = "".join(lines)
    assert demo_process.returncode == 0, output
    assert "Stopped the web server, the scheduler and a db_worker." in output
