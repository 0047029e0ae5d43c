"""The example project's ``demo`` command, run as a real process against a scratch database."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from example_project.demo.management.commands.demo import ChildExited, supervise
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEMO_KEYS = {
    "example_project.demo.tasks.record_heartbeat",
    "example_project.demo.tasks.count_heartbeats",
    "example_project.demo.tasks.flaky",
}


def example_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's default: the example project.
    env["AUTOSCHED_EXAMPLE_DB"] = str(tmp_path / "db.sqlite3")
    return env


def test_setup_only_migrates_creates_rows_and_prints_the_login(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--setup-only", "--port", "8123"],
        cwd=ROOT,
        env=example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Admin: http://127.0.0.1:8123/admin/  user: admin  password: admin" in result.stdout
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        functions = {row[0] for row in db.execute("SELECT function FROM autosched_periodictask")}
        users = list(
            db.execute("SELECT is_superuser, is_staff FROM auth_user WHERE username='admin'")
        )
    assert functions == DEMO_KEYS
    assert users == [(1, 1)]


def child(marker: Path, *, ignore_sigterm: bool = False) -> list[str]:
    """Return a command that writes its pid to ``marker`` and then waits to be stopped."""
    code = (
        "import os, signal, sys, time\n"
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_sigterm else "")
        + "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        + "time.sleep(60)\n"
    )
    return [sys.executable, "-c", code, str(marker)]


def pids_once_started(*markers: Path) -> list[int]:
    wait_until(lambda: all(m.exists() and m.read_text() for m in markers), "the pids", timeout=10)
    return [int(m.read_text()) for m in markers]


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def signal_once_started(signum: int, *markers: Path) -> threading.Thread:
    def send() -> None:
        pids_once_started(*markers)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_supervise_stops_every_child_on_a_signal(tmp_path: Path, signum: int) -> None:
    markers = [tmp_path / "a", tmp_path / "b"]
    sender = signal_once_started(signum, *markers)
    before = signal.getsignal(signum)
    supervise([child(m) for m in markers])
    sender.join()
    assert all(is_gone(pid) for pid in pids_once_started(*markers))
    assert signal.getsignal(signum) is before


def test_supervise_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "stubborn"
    sender = signal_once_started(signal.SIGTERM, marker)
    supervise([child(marker, ignore_sigterm=True)], stop_timeout=0.2)
    sender.join()
    assert is_gone(pids_once_started(marker)[0])


def test_supervise_stops_the_others_when_a_child_exits(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    with pytest.raises(ChildExited, match="exited with status 3") as caught:
        supervise([child(marker), [sys.executable, "-c", "import sys; sys.exit(3)"]])
    assert caught.value.returncode == 3
    # The survivor may be stopped before it wrote its pid; if it wrote one, it is gone.
    if marker.exists() and marker.read_text():
        assert is_gone(int(marker.read_text()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_demo_serves_the_admin_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=example_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def admin_answers() -> bool:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)):
                    return False
                sock.sendall(b"GET /admin/login/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.1 200")

        wait_until(admin_answers, "the admin to answer", timeout=30)
        demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=15)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, output.decode()
    assert b"Stopped the web server and the scheduler." in output
