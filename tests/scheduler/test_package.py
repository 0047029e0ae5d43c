"""The core's public face: its names, importable from autosched too, and no Django."""

from __future__ import annotations

import os
import subprocess
import sys

import autosched
from autosched import ScheduledTask, Scheduler, setup_tasks_from_config


def test_public_names_are_importable_from_the_package() -> None:
    assert autosched.Scheduler is Scheduler
    assert autosched.ScheduledTask is ScheduledTask
    assert autosched.setup_tasks_from_config is setup_tasks_from_config


def test_the_core_imports_no_django() -> None:
    # In a fresh interpreter: the test process itself may have imported Django already.
    code = (
        "import sys\n"
        "import autosched.scheduler\n"
        "from autosched import ScheduledTask, Scheduler, setup_tasks_from_config\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('django'))\n"
        "assert not loaded, f'importing the core imported {loaded}'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
