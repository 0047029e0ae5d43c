"""Settings for autosched, read from ``django.conf.settings`` at access time."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings as django_settings

PREFIX = "AUTOSCHED_"
#: Share of the lease TTL kept in hand: an active scheduler stops this long before it ends.
MARGIN_SHARE = 0.2
#: ``AUTOSCHED_RUN_HISTORY_BYTES``' default, 32 MiB: the 20 last runs of 5,000 tasks.
DEFAULT_RUN_HISTORY_BYTES = 32 * 2**20


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
    def MISSED_SLOT_GRACE(self) -> float:
        """Seconds back a scheduler that becomes active runs a slot nobody ran (at least once)."""
        return cast(float, self._get("MISSED_SLOT_GRACE", 0.0))

    @property
    def STATUS_CACHE(self) -> str:
        """The cache alias the scheduler publishes its live status to, for the admin to read."""
        return cast(str, self._get("STATUS_CACHE", "default"))

    @property
    def ENQUEUE_CONFIRM_TIMEOUT(self) -> float:
        """Seconds an enqueue waits for the broker to confirm a batch (Celery on RabbitMQ)."""
        return cast(float, self._get("ENQUEUE_CONFIRM_TIMEOUT", 10.0))

    @property
    def STATUS_TTL(self) -> float:
        """Seconds a published status stays valid; after that the scheduler counts as gone."""
        return cast(float, self._get("STATUS_TTL", 5.0))

    @property
    def RUN_HISTORY_BYTES(self) -> int:
        """Bytes of memory the last runs of all tasks may take; the oldest go first past it."""
        return cast(int, self._get("RUN_HISTORY_BYTES", DEFAULT_RUN_HISTORY_BYTES))

    @property
    def HEALTH_TOKEN(self) -> str | None:
        """A bearer token that lets a request to the health URL see the failing tasks."""
        return cast("str | None", self._get("HEALTH_TOKEN", None))

    @property
    def SENTRY_CRONS(self) -> bool:
        """Whether runscheduler makes each row a Sentry Crons monitor (``autosched[sentry]``)."""
        return cast(bool, self._get("SENTRY_CRONS", False))


conf = Settings()


# One validator per setting, used by the code that takes the value and by the system checks
# (autosched.checks), so that both refuse the same values with the same words. Each returns
# the value as the code uses it, or raises TypeError (not a number) or ValueError (out of
# range) with a message naming ``label``.


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: object, label: str, rule: str, within: Callable[[float], bool]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{label} must be {rule}, not {value!r}.")
    number = float(value)
    if not (math.isfinite(number) and within(number)):
        raise ValueError(f"{label} must be {rule}, not {value!r}.")
    return float(number)


#: Bounds of the sync interval: below, the database is polled for nothing; above, a Run now
#: request (which expires after 60 s) could expire before it is seen.
MIN_SYNC_INTERVAL, MAX_SYNC_INTERVAL = 0.01, 30.0


def valid_sync_interval(value: object, label: str = "AUTOSCHED_SYNC_INTERVAL") -> float:
    """Return the seconds between two syncs (``AUTOSCHED_SYNC_INTERVAL``)."""
    rule = f"a number of seconds from {MIN_SYNC_INTERVAL:g} to {MAX_SYNC_INTERVAL:g}"
    return _number(value, label, rule, lambda v: MIN_SYNC_INTERVAL <= v <= MAX_SYNC_INTERVAL)


def valid_grace_period(value: object, label: str = "AUTOSCHED_GRACE_PERIOD") -> float:
    """Return the seconds a stopping scheduler waits for runs (``AUTOSCHED_GRACE_PERIOD``)."""
    return _number(value, label, "a number of seconds >= 0", lambda v: v >= 0)


def valid_missed_slot_grace(value: object, label: str = "AUTOSCHED_MISSED_SLOT_GRACE") -> float:
    """Return how far back a newly active scheduler runs a missed slot (seconds, >= 0)."""
    return _number(value, label, "a number of seconds >= 0", lambda v: v >= 0)


def valid_confirm_timeout(value: object, label: str = "AUTOSCHED_ENQUEUE_CONFIRM_TIMEOUT") -> float:
    """Return how long an enqueue waits for the broker's confirms (seconds, > 0)."""
    return _number(value, label, "a positive number of seconds", lambda v: v > 0)


def valid_max_workers(value: object, label: str = "AUTOSCHED_MAX_WORKERS") -> int:
    """Return the number of threads for sync task functions (``AUTOSCHED_MAX_WORKERS``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be a positive integer, not {value!r}.")
    if value < 1:
        raise ValueError(f"{label} must be a positive integer, not {value!r}.")
    return value


def valid_status_ttl(value: object, label: str = "AUTOSCHED_STATUS_TTL") -> float:
    """Return the seconds a published status stays valid (``AUTOSCHED_STATUS_TTL``)."""
    return _number(value, label, "a positive number of seconds", lambda v: v > 0)


def valid_run_history_bytes(value: object, label: str = "AUTOSCHED_RUN_HISTORY_BYTES") -> int:
    """Return the bytes the run history may take (``AUTOSCHED_RUN_HISTORY_BYTES``, >= 0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be a whole number of bytes >= 0, not {value!r}.")
    if value < 0:
        raise ValueError(f"{label} must be a whole number of bytes >= 0, not {value!r}.")
    return value


#: Shortest health token accepted: a short one could be guessed.
MIN_HEALTH_TOKEN = 16


def valid_health_token(value: object, label: str = "AUTOSCHED_HEALTH_TOKEN") -> str | None:
    """Return the health URL's bearer token (``AUTOSCHED_HEALTH_TOKEN``), or None for none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{label} must be a string or None, not {value!r}.")
    if (
        len(value) < MIN_HEALTH_TOKEN
        or not value.isascii()
        or not value.isprintable()
        or (any(char.isspace() for char in value))
    ):
        # Not the value itself: it is a secret.
        raise ValueError(
            f"{label} must be at least {MIN_HEALTH_TOKEN} printable ASCII characters without "
            "spaces."
        )
    return value


def valid_sentry_crons(value: object, label: str = "AUTOSCHED_SENTRY_CRONS") -> bool:
    """Return whether to send Sentry Crons check-ins (``AUTOSCHED_SENTRY_CRONS``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{label} must be True or False, not {value!r}.")
    return value


def valid_lease(ttl: object, renew: object) -> tuple[float, float]:
    """Return the lease TTL and renewal interval (``AUTOSCHED_LEASE_TTL``/``_RENEW``)."""
    if _is_number(ttl) and _is_number(renew):
        ttl_s, renew_s = float(cast(float, ttl)), float(cast(float, renew))
        if 0 < renew_s < ttl_s * (1 - MARGIN_SHARE):
            return ttl_s, renew_s
    raise ValueError(
        f"AUTOSCHED_LEASE_RENEW ({renew!r}) must be a number of seconds above 0 and below "
        f"{1 - MARGIN_SHARE:.0%} of AUTOSCHED_LEASE_TTL ({ttl!r})."
    )
