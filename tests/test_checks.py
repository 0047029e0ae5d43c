"""System checks of autosched's settings: ids, messages, hints, and that they are registered."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from autosched import conf as conf_module
from autosched.checks import check_settings, check_worker_backends
from autosched.conf import Settings
from autosched.models import PeriodicTask
from tests.tasks_backend import TASKS_MODULE, needs_tasks

NO_DEFAULT = "tests.testapp.tasks.no_default"


def ids() -> list[str]:
    return [message.id or "" for message in check_settings()]


def test_the_defaults_pass() -> None:
    assert check_settings() == []


@pytest.mark.django_db  # run_checks() runs the model checks too: JSONField's asks SQLite
def test_the_checks_are_registered() -> None:
    with override_settings(AUTOSCHED_SYNC_INTERVAL=0):
        assert "autosched.E001" in [message.id for message in run_checks()]


@pytest.mark.parametrize("bad", [0, -1, "1", True, float("nan"), float("inf"), None])
def test_e001_sync_interval_must_be_a_positive_number(bad: object) -> None:
    with override_settings(AUTOSCHED_SYNC_INTERVAL=bad):
        [message] = check_settings()
    assert message.id == "autosched.E001"
    assert repr(bad) in message.msg
    assert message.hint


@pytest.mark.parametrize("good", [0.05, 1, 30])
def test_e001_accepts_positive_numbers(good: float) -> None:
    with override_settings(AUTOSCHED_SYNC_INTERVAL=good):
        assert ids() == []


@pytest.mark.parametrize("bad", [-1, "10", False, float("inf")])
def test_e002_grace_period_must_be_a_number_not_below_zero(bad: object) -> None:
    with override_settings(AUTOSCHED_GRACE_PERIOD=bad):
        assert ids() == ["autosched.E002"]


def test_e002_accepts_zero() -> None:
    with override_settings(AUTOSCHED_GRACE_PERIOD=0):
        assert ids() == []


@pytest.mark.parametrize("bad", [0, -2, 4.0, "8", True])
def test_e003_max_workers_must_be_a_positive_integer(bad: object) -> None:
    with override_settings(AUTOSCHED_MAX_WORKERS=bad):
        assert ids() == ["autosched.E003"]


def test_w001_an_unknown_setting_gets_a_spelling_hint() -> None:
    with override_settings(AUTOSCHED_SYNC_INTERVALS=2):
        [message] = check_settings()
    assert message.id == "autosched.W001"
    assert "AUTOSCHED_SYNC_INTERVALS" in message.msg
    assert message.hint == "Did you mean AUTOSCHED_SYNC_INTERVAL?"


def test_w001_lists_the_known_settings_when_nothing_is_close() -> None:
    with override_settings(AUTOSCHED_XYZ=1):
        [message] = check_settings()
    assert message.hint == f"Known settings: {', '.join(Settings.names())}."


# The lease settings ----------------------------------------------------------------------


@pytest.mark.parametrize(("ttl", "renew"), [(10, 8), (10, 0), (10, "2")])
def test_check_rejects_a_renewal_too_close_to_the_ttl(settings: Any, ttl: Any, renew: Any) -> None:
    settings.AUTOSCHED_LEASE_TTL, settings.AUTOSCHED_LEASE_RENEW = ttl, renew
    assert [message.id for message in check_settings()] == ["autosched.E006"]


def test_check_accepts_the_lease_defaults() -> None:
    assert check_settings() == []


# The status settings ---------------------------------------------------------------------


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}


@pytest.mark.parametrize("backend", [LOCMEM, DUMMY])
def test_w002_a_process_local_status_cache(settings: Any, backend: dict[str, str]) -> None:
    settings.CACHES = {"default": backend}
    [message] = check_settings()
    assert message.id == "autosched.W002"
    assert "not shared between processes" in message.msg
    assert "AUTOSCHED_STATUS_CACHE" in (message.hint or "")


def test_w002_looks_at_the_status_cache_alias(settings: Any) -> None:
    settings.CACHES = {**settings.CACHES, "local": LOCMEM}
    assert ids() == []
    settings.AUTOSCHED_STATUS_CACHE = "local"
    assert ids() == ["autosched.W002"]


def test_e005_the_status_cache_must_exist(settings: Any) -> None:
    settings.AUTOSCHED_STATUS_CACHE = "nowhere"
    [message] = check_settings()
    assert message.id == "autosched.E005"
    assert "'default'" in (message.hint or "")


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
def test_e004_the_ttl_must_be_a_positive_number(settings: Any, bad: object) -> None:
    settings.AUTOSCHED_STATUS_TTL = bad
    assert ids() == ["autosched.E004"]


@pytest.mark.parametrize("bad", [-1, 1.5, "32M", True, None])
def test_e009_the_run_history_must_be_a_whole_number_of_bytes(settings: Any, bad: object) -> None:
    settings.AUTOSCHED_RUN_HISTORY_BYTES = bad
    assert ids() == ["autosched.E009"]


@pytest.mark.parametrize("good", [0, 1024, 2**30])
def test_e009_accepts_zero_and_more(settings: Any, good: int) -> None:
    settings.AUTOSCHED_RUN_HISTORY_BYTES = good
    assert ids() == []


@pytest.mark.parametrize("bad", [0, -1, "10", True, float("inf")])
def test_e011_the_confirm_timeout_must_be_a_positive_number(settings: Any, bad: object) -> None:
    settings.AUTOSCHED_ENQUEUE_CONFIRM_TIMEOUT = bad
    assert ids() == ["autosched.E011"]


def test_the_status_settings_are_known(settings: Any) -> None:
    settings.AUTOSCHED_STATUS_TTL = 2.5
    settings.AUTOSCHED_STATUS_CACHE = "default"
    assert ids() == []


@pytest.mark.parametrize(
    ("setting", "validator", "bad"),
    [
        ("AUTOSCHED_SYNC_INTERVAL", "valid_sync_interval", 0),
        ("AUTOSCHED_GRACE_PERIOD", "valid_grace_period", -1),
        ("AUTOSCHED_MAX_WORKERS", "valid_max_workers", 0),
        ("AUTOSCHED_STATUS_TTL", "valid_status_ttl", "5"),
        ("AUTOSCHED_MISSED_SLOT_GRACE", "valid_missed_slot_grace", -2),
        ("AUTOSCHED_RUN_HISTORY_BYTES", "valid_run_history_bytes", 1.5),
        ("AUTOSCHED_ENQUEUE_CONFIRM_TIMEOUT", "valid_confirm_timeout", 0),
    ],
)
def test_a_check_says_what_the_settings_validator_says(
    settings: Any, setting: str, validator: str, bad: object
) -> None:
    # The check's words are its own (to be translated); they must not drift from the rule.
    setattr(settings, setting, bad)
    [message] = check_settings()
    with pytest.raises((TypeError, ValueError)) as refused:
        getattr(conf_module, validator)(bad)
    assert message.msg == str(refused.value)


def test_e006_says_what_the_lease_validator_says(settings: Any) -> None:
    settings.AUTOSCHED_LEASE_TTL, settings.AUTOSCHED_LEASE_RENEW = 10, 9
    [message] = check_settings()
    with pytest.raises(ValueError) as refused:
        conf_module.valid_lease(10, 9)
    assert message.msg == str(refused.value)


IMMEDIATE_PATH = f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"
DUMMY_PATH = f"{TASKS_MODULE}.backends.dummy.DummyBackend"


def worker_rows(*names: str, backend: str = "default") -> None:
    for name in names:
        PeriodicTask.objects.create(
            name=name, function=NO_DEFAULT, interval_seconds=60, run_on="worker",
            tasks_backend=backend,
        )  # fmt: skip


def w003(databases: list[str] | None = None) -> list[Any]:
    return [
        m for m in check_worker_backends(databases=databases or ["default"])
        if m.id == "autosched.W003"
    ]  # fmt: skip


@pytest.mark.django_db
def test_w003_worker_rows_without_a_tasks_setting_run_inline(settings: Any) -> None:
    del settings.TASKS
    assert w003() == []  # no worker row: nothing to say
    worker_rows("a", "b", "c", "d", "e")
    (warning,) = w003()
    assert warning.msg == (
        "Worker rows (a, b, c and 2 more) enqueue to Django Tasks, but there is no TASKS "
        "setting: Django then uses ImmediateBackend, so their runs happen inline in the "
        "scheduler process, not on a worker."
    )
    assert "Set TASKS['default'] to a backend that workers read" in warning.hint
    assert check_worker_backends(databases=None) == []  # a database check: only when asked


@needs_tasks
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "kind"), [(IMMEDIATE_PATH, "ImmediateBackend"), (DUMMY_PATH, "DummyBackend")]
)
def test_w003_worker_rows_on_an_inline_backend(settings: Any, path: str, kind: str) -> None:
    settings.TASKS = {
        "default": {"BACKEND": path},
        "real": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    }
    worker_rows("nightly")
    worker_rows("fine", backend="real")
    (warning,) = w003()
    assert warning.msg == (
        f"Worker rows (nightly) enqueue to the Tasks backend 'default', a {kind}: their runs "
        "happen inline in the scheduler process (or never), not on a worker."
    )


@needs_tasks
@pytest.mark.django_db
def test_w003_is_registered_as_a_database_check(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE_PATH}}
    worker_rows("nightly")
    assert "autosched.W003" in [m.id for m in run_checks(databases=["default"])]
    assert "autosched.W003" not in [m.id for m in run_checks()]
