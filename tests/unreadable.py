"""Rows that Python cannot read back, written by raw SQL as an outside tool could.

Each kind is written over an existing row (so that its other columns are sound):
- ``blob_name``: a BLOB in ``name`` (SQLite only: PostgreSQL refuses it);
- ``deep_kwargs``: ``kwargs`` nested past Python's recursion limit;
- ``huge_number``: a ``kwargs`` number of more than 4,300 digits (Python's int limit).
"""

from __future__ import annotations

from django.db import connections

from autosched.models import PeriodicTask

#: Levels of nesting the database takes and Python cannot read back.
DEPTH = {"sqlite": 1500, "postgresql": 5000}


def kinds(vendor: str) -> list[str]:
    """Return the kinds of unreadable row ``vendor`` can hold."""
    return (
        ["blob_name", "deep_kwargs", "huge_number"]
        if vendor == "sqlite"
        else [
            "deep_kwargs",
            "huge_number",
        ]
    )


def make_unreadable(task_id: int, kind: str, using: str = "default") -> None:
    """Overwrite row ``task_id`` by raw SQL so that reading it back raises in Python."""
    connection = connections[using]
    table = connection.ops.quote_name(PeriodicTask._meta.db_table)
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    if kind == "blob_name":
        sql, params = f"UPDATE {table} SET name = X'ff00fe' WHERE id = %s", [task_id]
    elif kind == "deep_kwargs":
        depth = DEPTH[connection.vendor]
        kwargs = '{"a": ' + "[" * depth + "]" * depth + "}"
        sql, params = f"UPDATE {table} SET kwargs = %s{cast} WHERE id = %s", [kwargs, task_id]
    elif kind == "huge_number":
        kwargs = '{"feed_id": 1' + "0" * 5000 + "}"
        sql, params = f"UPDATE {table} SET kwargs = %s{cast} WHERE id = %s", [kwargs, task_id]
    else:
        raise ValueError(f"Unknown kind of unreadable row {kind!r}.")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
