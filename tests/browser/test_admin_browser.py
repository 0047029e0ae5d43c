"""The example project's admin in a real browser, with a real scheduler behind it.

Starts ``manage.py runserver`` and ``manage.py runscheduler`` on a temporary SQLite database
and drives Debian's chromium through Playwright. They run only with
``AUTOSCHED_BROWSER_TESTS=1`` (as CI sets), and then fail if chromium or Playwright is missing;
otherwise they are skipped, so a plain ``pytest`` needs no browser.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_until

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "var" / "screenshots" / "changelist.png"
CHROMIUM = os.environ.get("AUTOSCHED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRED = os.environ.get("AUTOSCHED_BROWSER_TESTS") == "1"
USER, PASSWORD = "operator", "browser-test-password"
TASKS = "example_project.demo.tasks."


def missing_browser() -> str | None:
    """Say what is missing to run these tests, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[browser]')"
    if shutil.which(CHROMIUM) is None:
        return f"no chromium at {CHROMIUM} (run .ci/install-browser)"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    if not REQUIRED:
        # Opt-in: a plain `pytest` needs no browser and stays fast.
        pytest.skip("browser tests run with AUTOSCHED_BROWSER_TESTS=1 (see README)")
    reason = missing_browser()
    if reason is not None:
        pytest.fail(f"AUTOSCHED_BROWSER_TESTS=1 but {reason}.", pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Project:
    """The example project on a temporary database, with its web server and scheduler."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "AUTOSCHED_EXAMPLE_DB": str(tmp / "example.sqlite3"),
            # The example's file cache lives in the temp dir: one of its own per test run.
            "TMPDIR": str(tmp),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SUPERUSER_USERNAME": USER,
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "operator@example.com",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def manage(self, *args: str) -> None:
        command = [sys.executable, "manage.py", *args]
        subprocess.run(command, cwd=ROOT, env=self.env, check=True, capture_output=True)

    def start(self, name: str, *args: str) -> None:
        with (self.tmp / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            self.processes[name] = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.tmp / f'{name}.log').read_text(errors='replace')}"
            for name in self.processes
        )

    def answers(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.logs()}")
        try:
            with urllib.request.urlopen(f"{self.url}/admin/login/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("example"))
    project.manage("migrate", "--noinput", "--verbosity=0")
    project.manage("createsuperuser", "--noinput")
    project.start("runserver", "runserver", "--noreload", f"127.0.0.1:{project.port}")
    project.start("runscheduler", "runscheduler", "--sync-interval", "0.2")
    try:
        wait_until(project.answers, "the web server", timeout=20)
        yield project
    finally:
        project.stop()


@pytest.fixture(scope="module")
def page(project: Project) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{project.url}/admin/autosched/periodictask/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#autosched-banner")).to_contain_text(
            "Scheduler alive on host", timeout=20_000
        )
        yield page
        browser.close()


def selector(task: str, field: str) -> str:
    return f'[data-autosched-task="{TASKS}{task}"][data-autosched-field="{field}"]'


def cell(page: Any, task: str, field: str) -> Any:
    return page.locator(f"#result_list {selector(task, field)}")


def row(page: Any, task: str) -> Any:
    return page.locator("#result_list tbody tr").filter(has=page.locator(selector(task, "runs")))


def runs(page: Any, task: str) -> int:
    text = cell(page, task, "runs").inner_text().strip()
    return int(text.split()[0]) if text else 0


def edit_row(
    page: Any, task: str, *, interval: str | None = None, enabled: bool | None = None
) -> None:
    """Change one row in the list's editable fields and press Save."""
    if interval is not None:
        row(page, task).locator('input[name$="-interval_seconds"]').fill(interval)
    if enabled is not None:
        row(page, task).locator('input[name$="-enabled"]').set_checked(enabled)
    page.click('input[name="_save"]')
    page.wait_for_load_state()
    from playwright.sync_api import expect

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


def test_changing_an_interval_from_the_list_applies_it(page: Any) -> None:
    from playwright.sync_api import expect

    edit_row(page, "record_heartbeat", interval="1")
    expect(row(page, "record_heartbeat")).to_contain_text("every second")
    before = runs(page, "record_heartbeat")
    # Every second now, where it was every 10 s: the status page shows runs piling up.
    wait_until(
        lambda: runs(page, "record_heartbeat") >= before + 2, "two runs a second apart", timeout=20
    )


def test_disabling_from_the_list_stops_the_runs(page: Any) -> None:
    from playwright.sync_api import expect

    edit_row(page, "flaky", interval="1")
    wait_until(lambda: runs(page, "flaky") >= 1, "a run of flaky every second", timeout=20)
    edit_row(page, "flaky", enabled=False)
    expect(cell(page, "flaky", "next_run")).to_have_text("disabled", timeout=5_000)
    stopped_at = runs(page, "flaky")
    # Three of its former intervals pass without a run (the status refreshes every 2 s).
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        assert runs(page, "flaky") == stopped_at
        page.wait_for_timeout(250)


def test_run_now_updates_the_last_run_within_2_s(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    # A task that has never run, on an interval that keeps it so.
    page.goto(f"{project.url}/admin/autosched/periodictask/add/")
    page.fill("#id_name", "prune now and then")
    page.select_option("#id_function", f"{TASKS}prune_heartbeats")
    page.fill("#id_interval_seconds", "3600")
    page.click('input[name="_continue"]')
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    last_run = page.locator('[data-autosched-field="last_run"]')
    # Loaded by the scheduler (and shown by status.js) within a sync or two.
    expect(last_run).to_have_text("never", timeout=5_000)
    pressed = time.monotonic()
    page.click("#autosched-run-now")
    expect(last_run).to_have_text(re.compile(r"^[0-2] s ago$"), timeout=2_000)
    assert time.monotonic() - pressed < 2.0
    expect(page.locator(".messagelist")).to_contain_text("Started on")


def test_the_changelist_screenshot(page: Any, project: Project, capsys: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{project.url}/admin/autosched/periodictask/")
    expect(page.locator("#autosched-banner")).to_contain_text("Scheduler alive on host")
    expect(page.locator("#result_list")).to_contain_text("prune now and then")
    # Room for every column: fold the navigation sidebar and widen the window.
    page.set_viewport_size({"width": 1920, "height": 900})
    if page.locator("#nav-sidebar").is_visible():
        page.click("#toggle-nav-sidebar")
    expect(page.locator(selector("flaky", "next_run"))).to_have_text("disabled")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nScreenshot of the changelist: {SCREENSHOT}")
