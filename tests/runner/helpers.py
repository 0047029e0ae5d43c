"""Helpers for the runner's tests: a clock to turn by hand, a call in a thread of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from django.db import connections


class FakeClock:
    """A monotonic clock that moves only when a test moves ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def in_thread(func: Callable[[], Any]) -> Any:
    """Call ``func`` in a worker thread, closing that thread's database connection after."""

    def call() -> Any:
        try:
            return func()
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)
