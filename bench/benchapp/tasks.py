"""No-op functions for bench/sync.py (no defaults: the benchmark creates the rows)."""

from __future__ import annotations

import autosched


@autosched.register
def noop() -> None:
    """Do nothing."""
