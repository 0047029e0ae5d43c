"""Fixtures shared by test modules."""

from __future__ import annotations

from tests.scale_helpers import procs, scale_db, scale_template

__all__ = ["procs", "scale_db", "scale_template"]
