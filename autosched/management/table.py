"""Print aligned text tables from the management commands, and survive a closed pipe."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from django.core.management.base import BaseCommand
from django.utils.translation import gettext


def yes_no(value: object) -> str:
    """Say a flag in a table: "yes" or "no"."""
    return gettext("yes") if value else gettext("no")


def write_table(command: BaseCommand, rows: Sequence[Sequence[str]]) -> None:
    """Write ``rows`` (the first one a header) to the command's stdout, in aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        text = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        command.stdout.write(command.style.MIGRATE_HEADING(text) if number == 0 else text.rstrip())


@contextlib.contextmanager
def stdout_may_close(command: BaseCommand) -> Iterator[None]:
    """Stop writing, quietly, when the reader of stdout goes away (``| head``)."""
    try:
        yield
        command.stdout.flush()
    except BrokenPipeError:
        # Python would report the pipe again when it flushes stdout at exit: point the
        # descriptor at /dev/null instead, as the Python docs advise for SIGPIPE.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
