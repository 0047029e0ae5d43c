"""Grid arithmetic of the core: slot ``k`` of a task is due at ``anchor + k * interval``."""

from __future__ import annotations

import math


def next_slot(anchor: float, interval: float, fired_slot: int, now: float) -> tuple[int, int]:
    """Return the grid slot to run next after ``fired_slot`` and how many slots were missed.

    The next slot is the first one still in the future at ``now``; the slots skipped over (the
    loop was blocked, the machine slept) are coalesced into the run that just happened rather
    than fired in a burst.
    """
    slot = fired_slot + 1
    if anchor + slot * interval > now:
        return slot, 0
    late_by = now - anchor
    target = math.floor(late_by / interval) + 1
    # Guard against float rounding putting ``target`` on a slot that is not in the future.
    while anchor + target * interval <= now:
        target += 1
    return target, target - slot
