"""Print aligned text tables from the management commands."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.management.base import BaseCommand


def write_table(command: BaseCommand, rows: Sequence[Sequence[str]]) -> None:
    """Write ``rows`` (the first one a header) to the command's stdout, in aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        text = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        command.stdout.write(command.style.MIGRATE_HEADING(text) if number == 0 else text.rstrip())
