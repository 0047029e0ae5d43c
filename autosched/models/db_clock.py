"""The database's clock, for times that several hosts compare: lease expiry, Run now expiry.

Hosts' clocks disagree; one database server does not disagree with itself. Every time that
one host writes and another compares is therefore written and compared by the database.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import ExpressionWrapper, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now

__all__ = ["db_now", "db_now_plus"]


def db_now() -> Now:
    """Return the database's current time, as an expression."""
    return Now()


def db_now_plus(seconds: float) -> ExpressionWrapper[CombinedExpression]:
    """Return the database's current time plus ``seconds`` (negative: minus), as an expression."""
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=models.DateTimeField()
    )
