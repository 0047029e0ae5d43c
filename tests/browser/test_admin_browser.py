"""The example project's admin in a real browser, with a real scheduler behind it.

Starts ``manage.py runserver`` and ``manage.py runscheduler`` on a temporary SQLite database
and drives Debian's chromium through Playwright. They run only with
``AUTOSCHED_BROWSER_TESTS=1`` (as CI sets), and then fail if chromium or Playwright is missing;
otherwise they are skipped, so a plain ``pytest`` needs no browser.

Screenshots of the list at 1280, 1920 and 390 px, in Spanish, and of a task's page go to
``var/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_locale import english_left
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
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
#: The demo's default rows are named by their app label: "demo.flaky".
TASKS = "demo."
CHANGELIST = "/admin/autosched/periodictask/"


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
        self.database = tmp / "example.sqlite3"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "AUTOSCHED_EXAMPLE_DB": str(self.database),
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

    def row(self, name: str) -> tuple[Any, ...]:
        """Return (interval_seconds, enabled, kwargs) of the row ``name``, from the database."""
        with sqlite3.connect(self.database) as db:
            found = db.execute(
                "SELECT interval_seconds, enabled, kwargs FROM autosched_periodictask "
                "WHERE name = ?",
                (name,),
            ).fetchone()
        assert found is not None, f"no row {name!r}"
        return tuple(found)

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
def browser(project: Project) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(browser: Any, project: Project, **options: Any) -> Any:
    """Open a page, logged in, on the list; fail the test on any script error."""
    from playwright.sync_api import expect

    context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **options})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        # Chromium asks for /favicon.ico, which the admin does not have.
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.script_errors = errors
    page.goto(f"{project.url}{CHANGELIST}")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#autosched-banner")).to_have_class(
        re.compile("autosched-banner-alive"), timeout=20_000
    )
    return page


@pytest.fixture(scope="module")
def page(browser: Any, project: Project) -> Iterator[Any]:
    page = log_in(browser, project)
    yield page
    assert page.script_errors == []
    page.context.close()


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
    from playwright.sync_api import expect

    if interval is not None:
        row(page, task).locator('input[name$="-interval_seconds"]').fill(interval)
    if enabled is not None:
        row(page, task).locator('input[name$="-enabled"]').set_checked(enabled)
    page.click('input[name="_save"]')
    page.wait_for_load_state()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


def set_kwargs(page: Any, project: Project, task: str, kwargs: str) -> None:
    """Give a task keyword arguments through its page, and go back to the list."""
    from playwright.sync_api import expect

    page.locator("#result_list").get_by_role("link", name=f"{TASKS}{task}", exact=True).click()
    page.fill("#id_kwargs", kwargs)
    page.click('input[name="_save"]')
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")


def shoot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


# The list at 1280 x 800, sidebar open ------------------------------------------------------


def test_the_list_fits_1280_px_with_the_sidebar_open(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{project.url}{CHANGELIST}")
    expect(page.locator("#nav-sidebar")).to_be_visible()
    expect(cell(page, "record_heartbeat", "last_run")).to_contain_text("ago", timeout=20_000)
    overflow = page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
            list: (el => el.scrollWidth - el.clientWidth)(document.querySelector(".results")),
        })"""
    )
    assert overflow == {"page": 0, "list": 0}
    for title in ("Next run", "Last run"):
        header = page.locator("#result_list thead th", has_text=title)
        expect(header).to_be_visible()
        box = header.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 1280
    for field in ("next_run", "last_run"):
        box = cell(page, "record_heartbeat", field).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 1280


def test_typing_15m_saves_900_seconds(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    page.goto(f"{project.url}{CHANGELIST}")
    edit_row(page, "count_heartbeats", interval="15m")
    loaded = time.monotonic()
    assert project.row(f"{TASKS}count_heartbeats")[0] == 900
    interval = row(page, "count_heartbeats").locator('input[name$="-interval_seconds"]')
    expect(interval).to_have_value("15m")  # shown back as typed
    expect(row(page, "count_heartbeats")).to_contain_text("every 15 minutes")
    # The new next run shows within 1 s: at once as expected from the row, then from the
    # scheduler once it applied the change (the page polls fast meanwhile).
    live = cell(page, "count_heartbeats", "next_run").locator(":scope:not(.autosched-pending)")
    expect(live).to_have_text(re.compile(r"^in (\d+ min( \d+ s)?|\d+ s)$"), timeout=1_000)
    assert time.monotonic() - loaded < 1.0
    # The first slot of the new grid at least half an interval after the last run: within
    # 1.5 x 15 min.
    minutes = re.match(r"in (\d+) min", live.inner_text())
    assert minutes is None or int(minutes.group(1)) <= 22


def test_a_bad_interval_gets_a_message_with_examples(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    page.goto(f"{project.url}{CHANGELIST}")
    row(page, "count_heartbeats").locator('input[name$="-interval_seconds"]').fill("soon")
    page.click('input[name="_save"]')
    expect(page.locator("#result_list .errorlist")).to_contain_text(
        'Enter a span of time, e.g. "90", "90s", "15m", "1h 30m" or "2d".'
    )
    assert project.row(f"{TASKS}count_heartbeats")[0] == 900


def test_a_failing_task_is_marked_failing_without_hovering(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    page.goto(f"{project.url}{CHANGELIST}")
    set_kwargs(page, project, "flaky", '{"failure_rate": 1}')
    page.goto(f"{project.url}{CHANGELIST}")
    edit_row(page, "flaky", interval="1")
    outcome = cell(page, "flaky", "last_run").locator(".autosched-outcome")
    expect(outcome).to_have_text("✗ failed", timeout=10_000)
    expect(outcome).to_have_class(re.compile("autosched-failing"))
    # Red, and the error in plain view: no hover, no tooltip needed.
    assert outcome.evaluate("el => getComputedStyle(el).color") == "rgb(186, 33, 33)"
    error = cell(page, "flaky", "last_run").locator(".autosched-error-text")
    expect(error).to_be_visible()
    expect(error).to_have_text("RuntimeError: flaky failed, as it does 100% of the time")
    page.goto(f"{project.url}{CHANGELIST}?outcome=failing")
    expect(page.locator("#result_list a.autosched-name")).to_have_text([f"{TASKS}flaky"])


def assert_moves_between_polls(page: Any, when: Any, what: str) -> None:
    """Wait for the ``<time>`` ``when`` to change while the status view does not answer."""
    when.wait_for()
    page.route("**/status/**", lambda route: None)  # polls hang: only the count moves
    try:
        first = when.inner_text()
        wait_until(lambda: when.inner_text() != first, what, timeout=3)
    finally:
        page.unroute("**/status/**")


def test_times_count_down_between_polls(page: Any, project: Project) -> None:
    page.goto(f"{project.url}{CHANGELIST}")
    when = cell(page, "record_heartbeat", "last_run").locator("time")
    assert_moves_between_polls(page, when, "the time to move on its own")


def test_disabling_from_the_list_stops_the_runs(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    page.goto(f"{project.url}{CHANGELIST}")
    edit_row(page, "record_heartbeat", interval="1")
    before = runs(page, "record_heartbeat")
    wait_until(lambda: runs(page, "record_heartbeat") >= before + 2, "two runs", timeout=20)
    edit_row(page, "record_heartbeat", enabled=False)
    expect(cell(page, "record_heartbeat", "next_run")).to_have_text("disabled", timeout=5_000)
    stopped_at = runs(page, "record_heartbeat")
    deadline = time.monotonic() + 4.5  # several former intervals pass without a run
    while time.monotonic() < deadline:
        assert runs(page, "record_heartbeat") == stopped_at
        page.wait_for_timeout(250)
    edit_row(page, "record_heartbeat", enabled=True)


def test_run_now_updates_the_last_run_within_2_s(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    # A task that has never run, on an interval that keeps it so.
    page.goto(f"{project.url}{CHANGELIST}add/")
    page.fill("#id_name", "prune now and then")
    page.select_option("#id_function", "example_project.demo.tasks.prune_heartbeats")
    page.fill("#id_interval_seconds", "1h")
    page.click('input[name="_continue"]')
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    last_run = page.locator('.autosched-status [data-autosched-field="last_run"]')
    # Loaded by the scheduler (and shown by status.js) within a sync or two.
    expect(last_run).to_have_text("never", timeout=5_000)
    tools = page.locator(".object-tools li")
    expect(tools).to_have_text(["Run now", "Change history"])
    run_now, history = (tools.nth(i).bounding_box() for i in range(2))
    assert run_now is not None
    assert history is not None
    assert abs(run_now["y"] - history["y"]) < 1
    assert abs(run_now["height"] - history["height"]) < 1
    pressed = time.monotonic()
    page.click("#autosched-run-now")
    expect(last_run).to_have_text(re.compile(r"^(started|✓ ok) [0-2] s ago"), timeout=2_000)
    assert time.monotonic() - pressed < 2.0
    expect(page.locator(".messagelist")).to_contain_text("Started on")
    expect(last_run).to_have_text(re.compile(r"^✓ ok \d+ s ago"), timeout=10_000)
    page.reload()  # the recent runs are shown as the page loads
    expect(page.locator(".autosched-runs-table tbody tr")).to_have_count(1)


# Screenshots ----------------------------------------------------------------------------


def show_the_list(page: Any, project: Project) -> None:
    from playwright.sync_api import expect

    page.goto(f"{project.url}{CHANGELIST}")
    expect(page.locator("#result_list")).to_contain_text("prune now and then")
    expect(cell(page, "flaky", "last_run")).to_contain_text("failed")
    expect(page.locator("#autosched-banner")).to_have_class(re.compile("autosched-banner-alive"))


def test_screenshots_at_1280_1920_and_390_px(
    page: Any, browser: Any, project: Project, capsys: Any
) -> None:
    from playwright.sync_api import expect

    saved = []
    for width, height in ((1280, 800), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        show_the_list(page, project)
        expect(page.locator("#nav-sidebar")).to_be_visible()
        saved.append(shoot(page, f"changelist-{width}"))
    phone = log_in(browser, project, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        show_the_list(phone, project)
        for field in ("next_run", "last_run"):
            box = cell(phone, "flaky", field).bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 390
        name = phone.locator("#result_list a.autosched-name", has_text=f"{TASKS}flaky")
        expect(name).to_be_in_viewport()
        saved.append(shoot(phone, "changelist-390"))
        assert phone.script_errors == []
    finally:
        phone.context.close()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#result_list a.autosched-name", has_text=f"{TASKS}flaky").click()
    expect(page.locator(".autosched-traceback")).to_contain_text("RuntimeError")
    saved.append(shoot(page, "task-page-1280"))
    with capsys.disabled():
        print("\nScreenshots:", *map(str, saved), sep="\n  ")


def test_the_spanish_list_has_no_english_autosched_text(
    browser: Any, project: Project, capsys: Any
) -> None:
    from playwright.sync_api import expect

    page = log_in(browser, project, locale="es-ES", extra_http_headers={"Accept-Language": "es"})
    try:
        expect(page.locator("#autosched-banner")).to_contain_text("Planificador en marcha")
        expect(cell(page, "flaky", "last_run")).to_contain_text("fallida")
        page.wait_for_timeout(2_500)  # one poll of status.js, whose cells must be Spanish too
        text = page.locator("#content").inner_text()
        # The tasks' own words (names, functions, their errors) are data, not autosched's.
        for data in page.locator(
            ".autosched-name, .autosched-function, .autosched-error-text, #changelist-filter a"
        ).all_inner_texts():
            text = text.replace(data, " ")
        assert english_left(text) == []
        path = shoot(page, "changelist-1280-es")
        assert page.script_errors == []
    finally:
        page.context.close()
    with capsys.disabled():
        print(f"\nScreenshot in Spanish: {path}")


def test_a_worker_rows_enqueue_time_counts_up_between_polls(page: Any, project: Project) -> None:
    """A row enqueued to the project's django-tasks-db (no worker runs it): "enqueued … ago"."""
    from playwright.sync_api import expect

    name = f"{TASKS}enqueued"
    create = (
        "from autosched.models import PeriodicTask; PeriodicTask.objects.create("
        f"name={name!r}, function='example_project.demo.tasks.record_heartbeat', "
        "interval_seconds=3600, offset_seconds=None, run_on='worker')"
    )
    project.manage("shell", "-c", create)
    try:
        page.goto(f"{project.url}{CHANGELIST}")
        page.locator("#result_list").get_by_role("link", name=name, exact=True).click()
        last_run = page.locator('.autosched-status [data-autosched-field="last_run"]')
        expect(last_run).to_have_text("never", timeout=5_000)  # loaded by the scheduler
        page.click("#autosched-run-now")  # enqueued at once rather than at its hourly slot
        expect(last_run).to_contain_text("enqueued", timeout=5_000)
        page.goto(f"{project.url}{CHANGELIST}")
        when = cell(page, "enqueued", "last_run").locator(".autosched-small time")
        assert_moves_between_polls(page, when, "the enqueue time to count")
        shoot(page, "changelist-worker-row")
    finally:
        delete = f"PeriodicTask.objects.filter(name={name!r}).delete()"
        project.manage("shell", "-c", f"from autosched.models import PeriodicTask; {delete}")


# A whole-day row in Madrid time ------------------------------------------------------------

MADRID = f"{TASKS}madrid_report"
SIZES = ((1280, 800), (1920, 1080), (390, 844))


def no_overflow(page: Any) -> None:
    width = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert width == 0, f"the page scrolls sideways by {width} px"


def test_a_madrid_daily_row_is_made_in_the_form_and_said_on_its_clock(
    page: Any, browser: Any, project: Project, capsys: Any
) -> None:
    """The zone from the searchable list, the words, the next run in CET/CEST with UTC beside.

    Screenshots of the list and the row's page at 1280, 1920 and 390 px, in English and Spanish.
    """
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{project.url}{CHANGELIST}add/")
    zone = page.locator("#id_timezone")
    assert zone.get_attribute("list") == "autosched-zones"
    assert page.locator("#autosched-zones option").count() > 400
    page.fill("#id_name", MADRID)
    page.select_option("#id_function", "example_project.demo.tasks.prune_heartbeats")
    page.fill("#id_interval_seconds", "1h")
    page.fill("#id_offset_seconds", "")
    zone.fill("Europe/Madrid")
    page.click('input[name="_save"]')
    expect(page.locator(".field-timezone .errorlist")).to_contain_text(
        "A time zone is only for an interval of whole days"
    )
    page.fill("#id_interval_seconds", "1d")
    page.fill("#id_offset_seconds", "02:30")
    page.click('input[name="_save"]')
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    saved = []
    try:
        words = row(page, "madrid_report").locator(".autosched-words")
        expect(words).to_have_text("every day at 02:30 (Europe/Madrid)")
        clock = cell(page, "madrid_report", "next_run").locator(".autosched-clock")
        expect(clock).to_have_text(re.compile(r"^\w{3} \d+ \w{3} 02:30 CES?T\s· 0[01]:30 UTC$"))
        for language, headers in (("en", {}), ("es", {"Accept-Language": "es"})):
            for width, height in SIZES:
                options: dict[str, Any] = {"viewport": {"width": width, "height": height}}
                if language == "es":
                    options.update(locale="es-ES", extra_http_headers=headers)
                if width < 500:
                    options["is_mobile"] = True
                shot = log_in(browser, project, **options)
                try:
                    expect(row(shot, "madrid_report")).to_be_visible()
                    if width >= 1280:
                        no_overflow(shot)
                    if language == "es":
                        clock = cell(shot, "madrid_report", "next_run")
                        assert english_left(clock.inner_text()) == []
                    saved.append(shoot(shot, f"madrid-changelist-{width}-{language}"))
                    shot.locator("#result_list a.autosched-name", has_text=MADRID).click()
                    expect(shot.locator("#id_timezone")).to_have_value("Europe/Madrid")
                    no_overflow(shot)
                    saved.append(shoot(shot, f"madrid-task-page-{width}-{language}"))
                    if language == "es":
                        expect(shot.locator(".autosched-facts")).to_contain_text(
                            "cada día a las 02:30 (Europe/Madrid)"
                        )
                    assert shot.script_errors == []
                finally:
                    shot.context.close()
    finally:
        delete = f"PeriodicTask.objects.filter(name={MADRID!r}).delete()"
        project.manage("shell", "-c", f"from autosched.models import PeriodicTask; {delete}")
    with capsys.disabled():
        print("\nScreenshots of a Madrid row:", *map(str, saved), sep="\n  ")


def test_an_unreadable_row_is_listed_as_such_and_the_scheduler_runs_on(
    browser: Any, page: Any, project: Project, capsys: Any
) -> None:
    """Rows written by raw SQL that Python cannot read back: a BLOB name, 1,500-deep kwargs."""
    from playwright.sync_api import expect

    columns = (
        "function, interval_seconds, enabled, description, run_on, tasks_backend, queue_name, "
        "offset_seconds, timeout_seconds, priority, timezone, created_at, updated_at"
    )
    deep = '{"a": ' + "[" * 1500 + "]" * 1500 + "}"
    with sqlite3.connect(project.database) as db:
        for name, kwargs in ((b"\xff\x00\xfe", "{}"), ("demo.too deep", deep)):
            db.execute(
                f"INSERT INTO autosched_periodictask (name, kwargs, {columns}) "
                f"SELECT ?, ?, {columns} FROM autosched_periodictask WHERE name = ?",
                (name, kwargs, f"{TASKS}record_heartbeat"),
            )
    saved = []
    try:
        for width, height in ((1280, 800), (1920, 1080)):
            page.set_viewport_size({"width": width, "height": height})
            show_the_list(page, project)
            expect(page.locator(".autosched-unreadable")).to_have_count(2)
            saved.append(shoot(page, f"unreadable-{width}"))
        # The scheduler skipped them and runs the others: a heartbeat's runs keep counting.
        before = runs(page, "record_heartbeat")
        wait_until(
            lambda: page.reload() or runs(page, "record_heartbeat") > before,
            "another heartbeat run",
            timeout=20,
        )
        phone = log_in(browser, project, viewport={"width": 390, "height": 844}, is_mobile=True)
        try:
            show_the_list(phone, project)
            unreadable = phone.locator(".autosched-unreadable").first
            expect(unreadable).to_be_visible()
            box = unreadable.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 390
            saved.append(shoot(phone, "unreadable-390"))
            assert phone.script_errors == []
        finally:
            phone.context.close()
        page.set_viewport_size({"width": 1280, "height": 800})
        show_the_list(page, project)
        page.locator("#result_list a.autosched-name", has_text="too deep").click()
        expect(page.locator(".messagelist")).to_contain_text("This row cannot be read")
        saved.append(shoot(page, "unreadable-task-page-1280"))
        page.locator("a.deletelink").click()
        page.click('input[type="submit"]')
        expect(page.locator(".messagelist")).to_contain_text("was deleted successfully")
        expect(page.locator(".autosched-unreadable")).to_have_count(1)
    finally:
        with sqlite3.connect(project.database) as db:
            db.execute(
                "DELETE FROM autosched_periodictask WHERE typeof(name) = 'blob' "
                "OR name = 'demo.too deep'"
            )
    log = (project.tmp / "runscheduler.log").read_text(errors="replace")
    assert "Skipping periodic task #" in log
    with capsys.disabled():
        print("\nScreenshots of unreadable rows:", *map(str, saved), sep="\n  ")
