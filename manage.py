#!/usr/bin/env python
"""Run Django management commands for the example project (example_project.settings)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the command line with the example project's settings unless others are set."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
