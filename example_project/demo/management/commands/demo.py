"""Set up the example project and run the web server and the scheduler together."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from autosched.defaults import sync_defaults
from autosched.models import PeriodicTask, RunOn

MANAGE_PY = Path(__file__).resolve().parents[4] / "manage.py"
USERNAME = PASSWORD = "admin"
#: The rows that ``demo --workers`` enqueues to its db_worker: name, function, interval (s).
WORKER_ROWS = (
    ("heartbeat on a worker", "example_project.demo.tasks.record_heartbeat", 5),
    ("flaky on a worker", "example_project.demo.tasks.flaky", 9),
)


class ChildExited(Exception):
    """A child process ended on its own; ``returncode`` is its exit status."""

    def __init__(self, args: Sequence[str], returncode: int) -> None:
        super().__init__(f"{' '.join(args)} exited with status {returncode}")
        self.returncode = returncode


def supervise(commands: Sequence[Sequence[str]], *, stop_timeout: float = 10.0) -> None:
    """Run the commands until SIGINT or SIGTERM, then stop them all; return when they ended.

    Raise ``ChildExited`` if a child ends first (the others are stopped too). Each child gets
    its own session, so a Ctrl-C in the terminal reaches only this process, which forwards one
    SIGTERM: a second signal would make ``runscheduler`` skip its graceful stop.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, request_stop) for signum in handled}
    children: list[subprocess.Popen[bytes]] = []
    try:
        children = [subprocess.Popen(list(args), start_new_session=True) for args in commands]
        while not stop.wait(0.2):
            for child in children:
                if child.poll() is not None:
                    raise ChildExited(child.args, child.returncode)  # type: ignore[arg-type]
    finally:
        _stop_all(children, stop_timeout)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_all(children: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Command(BaseCommand):
    help = (
        "Migrate, create the demo rows and a local superuser admin/admin, then run the web "
        "server and the scheduler until Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Web server port (8000).")
        parser.add_argument(
            "--setup-only",
            action="store_true",
            help="Do the setup and print the login, but start nothing.",
        )
        parser.add_argument(
            "--workers",
            action="store_true",
            help=(
                "Also run a django-tasks-db worker (db_worker) and enqueue the rows "
                f"{', '.join(repr(name) for name, _, _ in WORKER_ROWS)} to it."
            ),
        )
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=10.0,
            help="Seconds to wait for the children to stop before killing them (10).",
        )

    def handle(
        self,
        *args: Any,
        port: int,
        setup_only: bool,
        workers: bool,
        stop_timeout: float,
        **options: Any,
    ) -> None:
        verbosity: int = options["verbosity"]
        if workers and not apps.is_installed("django_tasks_db"):
            raise CommandError(
                "--workers runs a django-tasks-db worker, which is not installed: "
                "pip install -e '.[worker]' django-tasks-db"
            )
        call_command("migrate", interactive=False, verbosity=verbosity, stdout=self.stdout)
        # migrate's post_migrate normally did this already; it costs one query to be sure.
        sync_defaults()
        self._set_worker_rows(enabled=workers)
        if verbosity >= 1:
            tasks = ", ".join(PeriodicTask.objects.values_list("name", flat=True))
            self.stdout.write(f"Periodic tasks: {tasks}")
        self._ensure_superuser()
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin: http://127.0.0.1:{port}/admin/  user: {USERNAME}  password: {PASSWORD}"
            )
        )
        if setup_only:
            return
        python = [sys.executable, str(MANAGE_PY)]
        commands = [
            [*python, "runserver", f"127.0.0.1:{port}", "--noreload"],
            [*python, "runscheduler"],
        ]
        started = "the web server and the scheduler"
        if workers:
            commands.append([*python, "db_worker", "--no-reload", "--no-startup-delay"])
            started = "the web server, the scheduler and a db_worker"
        self.stdout.write(f"Starting {started}; Ctrl-C stops them.")
        self.stdout.flush()
        try:
            supervise(commands, stop_timeout=stop_timeout)
        except ChildExited as exited:
            raise CommandError(
                f"{exited}; stopped the others too.", returncode=exited.returncode or 1
            ) from None
        self.stdout.write(f"Stopped {started}.")

    def _set_worker_rows(self, *, enabled: bool) -> None:
        """Make sure the worker rows exist and run, with --workers; else keep them disabled.

        Without a worker their runs would pile up in the queue, or fail to enqueue when
        django-tasks-db is not installed. An interval changed in the admin is kept.
        """
        for name, function, interval in WORKER_ROWS:
            if enabled:
                row, _ = PeriodicTask.objects.get_or_create(
                    name=name, defaults={"function": function, "interval_seconds": interval}
                )
                row.function, row.run_on, row.enabled = function, RunOn.WORKER, True
                row.save()
            elif PeriodicTask.objects.filter(name=name, enabled=True).update(enabled=False):
                self.stdout.write(f"Disabled {name!r}: it runs only with --workers.")

    def _ensure_superuser(self) -> None:
        # A fixed, known login is fine for a local demo and the whole point of this command.
        user, _ = get_user_model().objects.get_or_create(username=USERNAME)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(PASSWORD)
        user.save()
