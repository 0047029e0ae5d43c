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


conf = Settings()
