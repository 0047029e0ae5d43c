"""A row's JSON, read so that one value Python cannot decode costs only its own row.

A value written by raw SQL may be valid JSON to the database and still fail in Python: nested
past the recursion limit, or a number of more than 4,300 digits (the int conversion limit).
Django's ``JSONField`` raises while the query iterates, which ends the read of every row. Here
such a value is read as an ``Unreadable`` holding the reason, which each reader reports for
that row alone (see ``PeriodicTask.unreadable``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.fields.json import KeyTransform

from autosched.scheduler.errors import describe

__all__ = ["MAX_JSON_DEPTH", "KwargsField", "Unreadable", "json_depth", "json_problem"]

#: Deepest nesting of a row's JSON that autosched accepts and reads (a call's arguments
#: never need more; far deeper, Python's own recursion limit breaks printing and comparing).
MAX_JSON_DEPTH = 100
#: Longest reason kept in an ``Unreadable``.
REASON_LIMIT = 300


@dataclass(frozen=True)
class Unreadable:
    """A stored value that cannot be read back in Python, and why."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def json_depth(value: object, limit: int = MAX_JSON_DEPTH) -> int:
    """Return how deep ``value`` nests (a scalar: 0), counting no further than ``limit + 1``."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
        ]
    return depth


def json_problem(value: object) -> str | None:
    """Return what in decoded JSON ``value`` a database refuses or Python cannot read back.

    "deep" (nested past ``MAX_JSON_DEPTH``), "not_finite" (NaN or an infinity, which is what
    a number like 1e400 becomes) or "nul" (a NUL character, in a string or a key); else None.
    """
    if json_depth(value) > MAX_JSON_DEPTH:
        return "deep"
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return "not_finite"
        if isinstance(item, str) and "\x00" in item:
            return "nul"
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


class KwargsField(models.JSONField):
    """A ``JSONField`` that reads a value it cannot decode as an ``Unreadable``."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not isinstance(value, str) or isinstance(expression, KeyTransform):
            try:
                return super().from_db_value(value, expression, connection)
            except Exception as exc:  # any: whatever the value, this row alone is affected
                return Unreadable(describe(exc, REASON_LIMIT))
        # Django's own reading, inlined: a full load reads 100,000 of these.
        try:
            decoded = json.loads(value, cls=self.decoder)
        except json.JSONDecodeError:
            return value  # as Django does
        except Exception as exc:  # RecursionError, ValueError (int digits), ...
            return Unreadable(describe(exc, REASON_LIMIT))
        # Only a long text can nest deeply: short ones are not walked.
        if len(value) > 2 * MAX_JSON_DEPTH and json_depth(decoded) > MAX_JSON_DEPTH:
            return Unreadable(f"nested more than {MAX_JSON_DEPTH} levels deep")
        return decoded

    def deconstruct(self) -> Any:
        # Stored and migrated exactly as Django's JSONField: only the reading differs.
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
