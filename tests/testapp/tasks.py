"""Functions the test suite schedules; autosched imports this module at startup.

The two with a default interval get a row after ``migrate``, so the test database always
holds rows named ``tests.testapp.tasks.heartbeat`` and ``tests.testapp.tasks.async_heartbeat``.
"""

from __future__ import annotations

import autosched

calls: list[str] = []


@autosched.register(interval_seconds=300)
def heartbeat() -> None:
    """Record a call."""
    calls.append("heartbeat")


@autosched.register(interval_seconds=60, enabled=False)
async def async_heartbeat() -> None:
    """Record a call, asynchronously."""
    calls.append("async_heartbeat")


@autosched.register
def no_default() -> None:
    """Record a call; registered without a default, so no row is created for it."""
    calls.append("no_default")


@autosched.register
async def async_no_default() -> None:
    """Record a call asynchronously; registered without a default."""
    calls.append("async_no_default")


@autosched.register
def failing() -> None:
    """Fail every time."""
    raise RuntimeError("failing on purpose")


greetings: list[tuple[str, int]] = []
slots: list[object] = []


@autosched.register
def greet(who: str, times: int = 1) -> None:
    """Record whom it greeted, how many times: several rows schedule it with kwargs."""
    greetings.append((who, times))


@autosched.register
def on_the_slot(scheduled_at: object) -> None:
    """Record the slot it was given."""
    slots.append(scheduled_at)
