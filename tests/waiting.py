"""Wait for state that other threads or processes change, where there is no event to await.

Where the code under test sets an event (``tests.scheduler.helpers.Calls``), await that instead;
these poll, for conditions such as "the runner's thread loaded the row" or "the process printed
a line". Both fail with a message that says what was awaited, and return as soon as it holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: How often a condition is checked, in seconds.
EVERY = 0.01


class WaitTimeout(AssertionError):
    """A condition did not hold in time."""


def wait_until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> float:
    """Check ``condition`` until it holds; return the monotonic time it held. Fail at timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise WaitTimeout(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(EVERY)
    return time.monotonic()


async def wait_until_async(
    condition: Callable[[], object],
    what: str,
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the polling, not for a call
) -> float:
    """Like :func:`wait_until`, sleeping on the event loop between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise WaitTimeout(f"Timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(EVERY)
    return time.monotonic()
