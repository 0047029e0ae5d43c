"""The registry: only functions registered in code may be scheduled, each under its dotted path."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from autosched.registry import (
    MAX_KEY_LENGTH,
    KwargsError,
    RegisteredFunction,
    RegistrationError,
    Registry,
    registry,
)
from tests.testapp import tasks


def job() -> None:
    pass


async def async_job() -> None:
    pass


def other_job() -> None:
    pass


def test_bare_decorator_registers_under_the_dotted_path() -> None:
    reg = Registry()
    assert reg.register(job) is job
    assert reg.get("tests.test_registry.job") == RegisteredFunction(
        "tests.test_registry.job", job, None, True
    )


def test_decorator_with_arguments_keeps_the_defaults() -> None:
    reg = Registry()
    assert reg.register(interval_seconds=300, enabled=False)(job) is job
    entry = reg.get("tests.test_registry.job")
    assert entry is not None
    assert (entry.interval_seconds, entry.enabled) == (300, False)


def test_empty_parentheses_work_like_the_bare_decorator() -> None:
    reg = Registry()
    reg.register()(job)
    assert "tests.test_registry.job" in reg


def test_async_functions_are_registered_and_known_as_async() -> None:
    reg = Registry()
    reg.register(async_job)
    entry = reg.get("tests.test_registry.async_job")
    assert entry is not None
    assert entry.is_async
    assert not RegisteredFunction("k", job).is_async


def test_lookups_are_sorted() -> None:
    reg = Registry()
    reg.register(other_job)
    reg.register(job)
    keys = ["tests.test_registry.job", "tests.test_registry.other_job"]
    assert reg.keys() == keys
    assert list(reg) == keys
    assert len(reg) == 2
    assert [key for key, _ in reg.items()] == keys
    assert [entry.func for entry in reg.all()] == [job, other_job]
    assert reg.choices() == [(key, key) for key in keys]


def test_get_of_an_unknown_key_is_none() -> None:
    assert Registry().get("nope") is None
    assert "nope" not in Registry()


def test_registering_the_same_function_again_is_harmless() -> None:
    reg = Registry()
    reg.register(job)
    reg.register(interval_seconds=5)(job)
    entry = reg.get("tests.test_registry.job")
    assert entry is not None
    assert entry.interval_seconds == 5


def test_another_function_under_the_same_key_is_an_error_naming_it() -> None:
    reg = Registry()
    reg.register(job)

    def job_twin() -> None:
        pass

    job_twin.__qualname__ = "job"
    with pytest.raises(RegistrationError, match=r"tests\.test_registry\.job is already registered"):
        reg.register(job_twin)


@pytest.mark.parametrize("bad", [0, -1, 1.5, 300.0, "300", True, 31_536_001])
def test_a_bad_default_interval_is_an_error_naming_the_function(bad: object) -> None:
    with pytest.raises(RegistrationError, match=r"tests\.test_registry\.job: interval_seconds"):
        Registry().register(interval_seconds=bad)(job)  # type: ignore[call-overload]


def test_a_default_interval_of_one_year_is_allowed() -> None:
    reg = Registry()
    reg.register(interval_seconds=31_536_000)(job)
    assert "tests.test_registry.job" in reg


def test_enabled_must_be_a_bool() -> None:
    with pytest.raises(RegistrationError, match="enabled must be True or False, not 1"):
        Registry().register(interval_seconds=5, enabled=1)(job)  # type: ignore[call-overload]


def test_a_non_callable_is_an_error() -> None:
    with pytest.raises(RegistrationError, match=r"needs a function, not 'x'"):
        Registry().register("x")  # type: ignore[call-overload]


def test_an_interval_given_positionally_gets_a_hint() -> None:
    with pytest.raises(RegistrationError, match=r"did you mean register\(interval_seconds=300\)"):
        Registry().register(300)  # type: ignore[call-overload]


def test_a_function_that_needs_arguments_needs_them_for_a_default_row() -> None:
    def needs(x: int) -> None:
        pass

    Registry().register(needs)  # rows bring the argument
    with pytest.raises(RegistrationError, match="missing required argument 'x'"):
        Registry().register(interval_seconds=60)(needs)
    Registry().register(interval_seconds=60, kwargs={"x": 1})(needs)


def test_optional_arguments_are_fine() -> None:
    def optional(x: int = 1, *args: object, **kwargs: object) -> None:
        pass

    Registry().register(optional)


def test_a_callable_without_a_dotted_path_is_an_error() -> None:
    class Job:
        def __call__(self) -> None:
            pass

    with pytest.raises(RegistrationError, match="__module__ and __qualname__"):
        Registry().register(Job())


def test_a_key_too_long_for_a_row_name_is_an_error() -> None:
    def job() -> None:
        pass

    job.__qualname__ = "x" * MAX_KEY_LENGTH
    with pytest.raises(RegistrationError, match="longer than 200 characters"):
        Registry().register(job)


def test_the_testapp_tasks_module_was_autodiscovered() -> None:
    assert registry.get("tests.testapp.tasks.heartbeat") == RegisteredFunction(
        "tests.testapp.tasks.heartbeat", tasks.heartbeat, 300, True
    )
    assert "tests.testapp.tasks.no_default" in registry


def test_registering_needs_neither_django_settings_nor_django() -> None:
    code = (
        "import sys, autosched\n"
        "autosched.register(interval_seconds=5)(lambda: None)\n"
        "assert not [m for m in sys.modules if m.startswith('django')], 'django imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)


def test_register_is_importable_from_the_package() -> None:
    import autosched

    assert autosched.register == registry.register


def greet(who: str, times: int = 1) -> None: ...


def registered_greet() -> RegisteredFunction:
    return RegisteredFunction("x.greet", greet)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"whom": "ann"}, "unknown argument 'whom'"),
        ({}, "missing required argument 'who'"),
        (["ann"], "must be a JSON object"),
        ({"who": "ann", "scheduled_at": "now"}, "'scheduled_at' is filled in"),
    ],
)
def test_kwargs_are_checked_against_the_signature(kwargs: Any, problem: str) -> None:
    with pytest.raises(KwargsError, match=problem):
        registered_greet().check_kwargs(kwargs)


def test_register_checks_default_kwargs() -> None:
    registry = Registry()
    registry.register(interval_seconds=60, kwargs={"who": "ann"})(greet)
    with pytest.raises(RegistrationError, match="missing required argument 'who'"):
        Registry().register(interval_seconds=60)(greet)
    with pytest.raises(RegistrationError, match="unknown argument 'whom'"):
        Registry().register(kwargs={"whom": "x"})(greet)
    Registry().register(greet)  # no default row: rows bring their kwargs


def test_a_positional_only_parameter_cannot_be_registered() -> None:
    def positional(who: str, /) -> None: ...

    with pytest.raises(RegistrationError, match="cannot be passed by keyword"):
        Registry().register(positional)


def test_register_takes_the_name_of_the_default_row() -> None:
    reg = Registry()
    reg.register(interval_seconds=60, name="Send the invoices", kwargs={"who": "ann"})(greet)
    assert reg.all()[0].name == "Send the invoices"


@pytest.mark.parametrize("bad", ["", " padded", "tab\there", "x" * 201, 5])
def test_a_name_a_row_could_not_have_is_an_error(bad: Any) -> None:
    with pytest.raises(RegistrationError, match="name must be"):
        Registry().register(interval_seconds=60, name=bad)(greet)


def test_two_functions_cannot_give_their_rows_one_name() -> None:
    def other() -> None: ...

    reg = Registry()
    reg.register(name="Nightly")(greet)
    with pytest.raises(RegistrationError, match=r"'nightly' is already given to .*greet"):
        reg.register(name="nightly")(other)


def test_register_takes_the_time_zone_of_the_default_row() -> None:
    reg = Registry()
    reg.register(interval_seconds=86400, timezone="Europe/Madrid")(job)
    assert reg.all()[0].timezone == "Europe/Madrid"


@pytest.mark.parametrize(
    ("interval", "zone", "problem"),
    [
        (3600, "Europe/Madrid", r"a time zone \(Europe/Madrid\) needs an interval of whole days"),
        (86400, "Europe/Madird", r"unknown time zone 'Europe/Madird'"),
        (None, "Europe/Madrid", r"timezone='Europe/Madrid' is for the default row"),
    ],
)
def test_a_zone_the_row_could_not_have_is_an_error_at_import(
    interval: int | None, zone: str, problem: str
) -> None:
    with pytest.raises(RegistrationError, match=rf"tests\.test_registry\.job: {problem}"):
        Registry().register(interval_seconds=interval, timezone=zone)(job)
