"""The Django admin for periodic tasks: the list, the form, live status and Run now."""

from __future__ import annotations

from autosched.admin.filters import OutcomeFilter, RegisteredFilter
from autosched.admin.periodic_task import PeriodicTaskAdmin

__all__ = ["OutcomeFilter", "PeriodicTaskAdmin", "RegisteredFilter"]
