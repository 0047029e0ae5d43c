"""Fixtures of the runner's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections


@pytest.fixture
async def close_thread_connections() -> AsyncIterator[None]:
    """Close the connection that sync_to_async's thread opened, so PostgreSQL can drop the DB."""
    yield
    await sync_to_async(connections.close_all)()
