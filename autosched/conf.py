"""Settings for autosched, read from ``django.conf.settings`` at access time."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings as django_settings

PREFIX = "AUTOSCHED_"


class Settings:
    # Upper-case properties mirror the settings' names.
    """Each property reads its ``AUTOSCHED_*`` setting when accessed, so tests may override it."""

    def _get(self, name: str, default: Any) -> Any:
        return getattr(django_settings, f"{PREFIX}{name}", default)

    @classmethod
    def names(cls) -> list[str]:
        """Return the full names of the settings autosched reads, e.g. AUTOSCHED_SYNC_INTERVAL."""
        return sorted(
            f"{PREFIX}{name}" for name, value in vars(cls).items() if isinstance(value, property)
        )

    @property
    def SYNC_INTERVAL(self) -> float:
        """Seconds between two checks of the database for changed rows."""
        return cast(float, self._get("SYNC_INTERVAL", 0.5))

    @property
    def GRACE_PERIOD(self) -> float:
        """Seconds a stopping scheduler waits for in-flight runs before cancelling them."""
        return cast(float, self._get("GRACE_PERIOD", 10.0))

    @property
    def MAX_WORKERS(self) -> int:
        """Threads available to sync task functions at once."""
        return cast(int, self._get("MAX_WORKERS", 32))

    @property
    def LEASE_TTL(self) -> float:
        """Seconds the scheduler lease lasts without renewal (one active scheduler)."""
        return cast(float, self._get("LEASE_TTL", 10.0))

    @property
    def LEASE_RENEW(self) -> float:
        """Seconds between two renewals of the lease, or claims of it by a standby."""
        return cast(float, self._get("LEASE_RENEW", 2.0))

    @property
    def STATUS_CACHE(self) -> str:
        """The cache alias the scheduler publishes its live status to, for the admin to read."""
        return cast(str, self._get("STATUS_CACHE", "default"))

    @property
    def STATUS_TTL(self) -> float:
        """Seconds a published status stays valid; after that the scheduler counts as gone."""
        return cast(float, self._get("STATUS_TTL", 5.0))


conf = Settings()
