"""Fixtures of the core's tests (no Django here)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def tzdata_zones() -> Iterator[str]:
    """Read zones from the pinned ``tzdata`` package, never the machine's own database.

    Expected instants are written from the zones' rules as that release has them, so the
    results must not change with the machine. With an empty search path zoneinfo falls back
    to the ``tzdata`` package; without it (no test extra) the zone tests fail, they never skip.
    """
    import tzdata

    previous = zoneinfo.TZPATH
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        yield tzdata.IANA_VERSION
    finally:
        zoneinfo.reset_tzpath(to=previous)
        zoneinfo.ZoneInfo.clear_cache()
