"""The functions that may be scheduled: only code registered with ``@autosched.register``.

Rows in the database name a registered key; nothing else (no form, row or setting) can make
the scheduler import or call an arbitrary dotted path. This module imports nothing from Django
so that ``autosched.register`` works before settings are configured; ``autosched.defaults``
turns registered defaults into rows.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from autosched.scheduler import MAX_INTERVAL_SECONDS, returns_coroutine

__all__ = [
    "MAX_KEY_LENGTH",
    "RegisteredFunction",
    "RegistrationError",
    "Registry",
    "register",
    "registry",
]

logger = logging.getLogger("autosched")

F = TypeVar("F", bound=Callable[..., Any])

#: Keys longer than this could not be stored as a row's unique ``name``.
MAX_KEY_LENGTH = 200


class RegistrationError(ValueError):
    """A function cannot be registered as given; the message names the function."""


def function_key(func: Callable[..., Any]) -> str:
    """Return the key a function is registered under: its dotted path."""
    return f"{func.__module__}.{func.__qualname__}"


def _check_interval(key: str, interval_seconds: object) -> None:
    if interval_seconds is None:
        return
    # bool is an int subclass, and True seconds is surely a mistake.
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int):
        raise RegistrationError(
            f"{key}: interval_seconds must be a positive integer, not {interval_seconds!r}"
        )
    if not 1 <= interval_seconds <= MAX_INTERVAL_SECONDS:
        raise RegistrationError(
            f"{key}: interval_seconds must be between 1 and {MAX_INTERVAL_SECONDS} "
            f"(one year), not {interval_seconds!r}"
        )


def _check_callable_without_arguments(key: str, func: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # Some builtins have no signature; let them through.
        return
    try:
        signature.bind()
    except TypeError:
        raise RegistrationError(
            f"{key}: a scheduled function is called with no arguments, "
            f"but its signature is {signature}"
        ) from None


@dataclass(frozen=True)
class RegisteredFunction:
    """A function registered for scheduling, with the defaults its row is created from."""

    key: str
    func: Callable[..., Any]
    interval_seconds: int | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if not callable(self.func):
            raise RegistrationError(f"{self.key}: {self.func!r} is not callable")
        if len(self.key) > MAX_KEY_LENGTH:
            raise RegistrationError(
                f"{self.key}: the key is longer than {MAX_KEY_LENGTH} characters"
            )
        _check_interval(self.key, self.interval_seconds)
        if not isinstance(self.enabled, bool):
            raise RegistrationError(
                f"{self.key}: enabled must be True or False, not {self.enabled!r}"
            )
        _check_callable_without_arguments(self.key, self.func)

    @property
    def is_async(self) -> bool:
        """Return whether calling the function gives a coroutine to await."""
        return returns_coroutine(self.func)


class Registry:
    """Hold registered functions by key (the function's dotted path)."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}

    @overload
    def register(self, func: F, /) -> F: ...

    @overload
    def register(
        self, *, interval_seconds: int | None = None, enabled: bool = True
    ) -> Callable[[F], F]: ...

    def register(
        self,
        # Not positional-only here (though it is in the overload) to dodge a mypy false positive.
        func: Callable[..., Any] | None = None,
        *,
        interval_seconds: int | None = None,
        enabled: bool = True,
    ) -> Any:
        """Register a function for scheduling; use bare or with default ``interval_seconds``."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self._add(func, interval_seconds, enabled)
            return func

        if func is None:
            return decorator
        return decorator(func)

    def _add(self, func: Callable[..., Any], interval_seconds: int | None, enabled: bool) -> None:
        if not callable(func):
            hint = f"; did you mean register(interval_seconds={func!r})?" if func else ""
            raise RegistrationError(f"register() needs a function, not {func!r}{hint}")
        try:
            key = function_key(func)
        except AttributeError:
            raise RegistrationError(
                f"register() needs a function with __module__ and __qualname__, not {func!r}"
            ) from None
        entry = RegisteredFunction(key, func, interval_seconds, enabled)
        existing = self._functions.get(key)
        # The same object again (an import run twice) is harmless; another object under the
        # same key would make the row ambiguous.
        if existing is not None and existing.func is not func:
            raise RegistrationError(
                f"{key} is already registered to another function ({existing.func!r}); "
                "two functions cannot share one key"
            )
        self._functions[key] = entry
        logger.debug("Registered %s (default interval: %s)", key, interval_seconds)

    def get(self, key: str) -> RegisteredFunction | None:
        """Return the function registered under ``key``, or None."""
        return self._functions.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._functions

    def __len__(self) -> int:
        return len(self._functions)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """Return the registered keys, sorted."""
        return sorted(self._functions)

    def items(self) -> list[tuple[str, RegisteredFunction]]:
        """Return (key, registered function) pairs, sorted by key."""
        return sorted(self._functions.items())

    def all(self) -> list[RegisteredFunction]:
        """Return the registered functions, sorted by key."""
        return [entry for _, entry in self.items()]

    def choices(self) -> list[tuple[str, str]]:
        """Return (key, key) pairs, sorted, for a form's choice field."""
        return [(key, key) for key in self.keys()]


#: The registry that ``@autosched.register`` fills and the admin and scheduler read.
registry = Registry()
register = registry.register
