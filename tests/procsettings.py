"""Settings for the runscheduler processes that tests/test_runscheduler.py starts.

The database comes from AUTOSCHED_PROC_DB: a SQLite file path, or a PostgreSQL database name
when AUTOSCHED_TEST_DB=postgres (as for the test run itself).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, ON_POSTGRES, database

INSTALLED_APPS = [*INSTALLED_APPS, "tests.procapp"]

DATABASES = {
    "default": database(
        os.environ.get(
            "AUTOSCHED_PROC_DB", "autosched_proc" if ON_POSTGRES else "autosched-proc.sqlite3"
        )
    )
}

AUTOSCHED_GRACE_PERIOD = float(os.environ.get("AUTOSCHED_PROC_GRACE_PERIOD", "10"))
AUTOSCHED_STATUS_TTL = float(os.environ.get("AUTOSCHED_PROC_STATUS_TTL", "5"))
