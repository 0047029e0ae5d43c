"""The token that tells a worker a queued run is one the scheduler enqueued, for one row.

Whoever can write to a Tasks backend's queue can make a worker run a registered function (no
more: the registry decides what runs), but must not be able to write a run's report for any
row it likes. So the scheduler signs what a report is keyed by, the row's pk and the run's
slot, with the function's key and the row's timeout, and the worker reports a run only when
the signature matches. It is an HMAC with the project's ``SECRET_KEY`` (``salted_hmac``, as
Django signs its own values), so it needs no record of enqueued runs: it holds across a
scheduler restart and a failover, and a worker on newer code checks it the same way. During a
key rotation, a token made with a key of ``SECRET_KEY_FALLBACKS`` is still accepted.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

__all__ = ["check_run_token", "run_token"]

SALT = "autosched.tokens.run"


def _message(row_id: int, key: str, slot: str | None, timeout: int | None) -> str:
    return f"{row_id}|{key}|{slot or ''}|{timeout if timeout is not None else ''}"


def run_token(
    row_id: int, key: str, slot: str | None, timeout: int | None, *, secret: str | None = None
) -> str:
    """Return the token of the run of row ``row_id`` (function ``key``) at ``slot``."""
    message = _message(row_id, key, slot, timeout)
    return salted_hmac(SALT, message, secret=secret, algorithm="sha256").hexdigest()


def check_run_token(
    row_id: int, key: str, slot: str | None, timeout: int | None, token: str
) -> bool:
    """Return whether ``token`` is the scheduler's for that run (current or fallback key)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return any(
        constant_time_compare(token, run_token(row_id, key, slot, timeout, secret=secret))
        for secret in secrets
    )
