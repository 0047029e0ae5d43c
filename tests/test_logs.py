"""autosched's log calls, read from the source: the run, enqueue and lease paths name events."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autosched.scheduler.logs import EVENTS

PACKAGE = Path(__file__).resolve().parent.parent / "autosched"
#: The modules on the run, enqueue and lease paths: each of their log calls names its event.
NAMED = [
    "scheduler/runs.py",
    "scheduler/scheduler.py",
    "scheduler/timetable.py",
    "scheduler/stopping.py",
    "runner/leadership.py",
    "runner/runner.py",
    "runner/run_now.py",
    "runner/bulk.py",
    "enqueue.py",
    "worker.py",
]
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def log_calls(path: Path) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LOG_METHODS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "logger"
    ]


@pytest.mark.parametrize("module", NAMED)
def test_every_log_call_on_the_run_and_lease_paths_passes_extra(module: str) -> None:
    calls = log_calls(PACKAGE / module)

    assert calls
    missing = [call.lineno for call in calls if not any(k.arg == "extra" for k in call.keywords)]
    assert missing == [], f"{module}: log calls without extra= at lines {missing}"


def test_every_event_named_in_the_source_is_a_known_one() -> None:
    named = {
        node.args[0].value
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"event", "_event"}
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }

    assert named
    assert named - EVENTS == set()
