"""A row's offset: its own, or a spread one. Where the slots fall is the core's rule
(``autosched.scheduler.next_slots``), told once there.

A row without an offset (NULL) gets a *spread* offset: a stable hash of its name modulo the
interval, the same in every process, on every machine and in every Python run (never
Python's randomized ``hash()``). So a restart, a deploy or a takeover never moves a task's
slots, and a thousand hourly tasks do not all fire at :00.
"""

from __future__ import annotations

import hashlib

__all__ = ["effective_offset", "spread_offset"]


def spread_offset(name: str, interval_seconds: int) -> int:
    """Return the offset of a row named ``name`` that has none: a stable hash of the name."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % interval_seconds


def effective_offset(name: str, interval_seconds: int, offset_seconds: int | None) -> int:
    """Return the offset the scheduler uses: the row's own, or the spread one."""
    if offset_seconds is None:
        return spread_offset(name, interval_seconds)
    return offset_seconds
