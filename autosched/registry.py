"""The functions that may be scheduled: only code registered with ``@autosched.register``.

Rows in the database name a registered key; nothing else (no form, row or setting) can make
the scheduler import or call an arbitrary dotted path. This module imports nothing from Django
so that ``autosched.register`` works before settings are configured; ``autosched.defaults``
turns registered defaults into rows.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from autosched.scheduler import MAX_INTERVAL_SECONDS, returns_coroutine
from autosched.zones import ZoneError, check_zone

__all__ = [
    "MAX_KEY_LENGTH",
    "SLOT_PARAMETER",
    "KwargsError",
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


def _check_name(key: str, name: object) -> None:
    if name is None:
        return
    if not isinstance(name, str):
        raise RegistrationError(f"{key}: name must be a string, not {name!r}")
    # The rules of a row's name (the model refuses the same), so the default row can exist.
    visible = name.isprintable() and name == name.strip() and name
    if not visible or len(name) > MAX_KEY_LENGTH:
        raise RegistrationError(
            f"{key}: name must be visible text of 1 to {MAX_KEY_LENGTH} characters without "
            f"leading or trailing spaces, not {name!r}"
        )


def _same(name: str | None, other: str | None) -> bool:
    return name is not None and other is not None and name.casefold() == other.casefold()


#: The keyword a registered function declares to receive its run's slot (aware UTC).
SLOT_PARAMETER = "scheduled_at"
_NO_KEYWORD = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)


class KwargsError(ValueError):
    """Keyword arguments do not fit a registered function; the message names the argument.

    ``code`` says which rule was broken and ``params`` what broke it, so that a form can say
    it in the operator's language (the message itself is English, for logs).
    """

    def __init__(
        self, message: str, argument: str | None = None, *, code: str, **params: str
    ) -> None:
        super().__init__(message)
        #: The argument at fault, if one is: an unknown or a missing one.
        self.argument = argument
        #: One of "not_object", "bad_name", "slot", "unknown", "missing".
        self.code = code
        self.params = {"name": repr(argument), **params}


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # Some builtins have no signature; let them through.
        return None


@dataclass(frozen=True)
class RegisteredFunction:
    """A function registered for scheduling, with the defaults its row is created from."""

    key: str
    func: Callable[..., Any]
    interval_seconds: int | None = None
    enabled: bool = True
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: The name its default row gets, if given with ``register(name=...)``.
    name: str | None = None
    #: The time zone its default row gets ("" = UTC); only with an interval of whole days.
    timezone: str = ""

    def __post_init__(self) -> None:
        if not callable(self.func):
            raise RegistrationError(f"{self.key}: {self.func!r} is not callable")
        if len(self.key) > MAX_KEY_LENGTH:
            raise RegistrationError(
                f"{self.key}: the key is longer than {MAX_KEY_LENGTH} characters"
            )
        _check_name(self.key, self.name)
        _check_interval(self.key, self.interval_seconds)
        if not isinstance(self.enabled, bool):
            raise RegistrationError(
                f"{self.key}: enabled must be True or False, not {self.enabled!r}"
            )
        self._check_timezone()
        signature = _signature(self.func)
        if signature is not None:
            for parameter in signature.parameters.values():
                required = parameter.default is parameter.empty
                if parameter.kind is parameter.POSITIONAL_ONLY and required:
                    raise RegistrationError(
                        f"{self.key}: a scheduled function is called with keyword arguments "
                        f"only, but its parameter {parameter.name!r} cannot be passed by "
                        f"keyword (signature {signature})"
                    )
        try:
            # A default row is created from these kwargs, so they must be complete; without
            # one, rows bring their own and only the names given here are checked.
            self.check_kwargs(self.kwargs, complete=self.interval_seconds is not None)
            json.dumps(self.kwargs)
        except (KwargsError, TypeError) as exc:
            raise RegistrationError(f"{self.key}: kwargs: {exc}") from None

    def _check_timezone(self) -> None:
        if self.timezone == "":
            return
        if self.interval_seconds is None:
            raise RegistrationError(
                f"{self.key}: timezone={self.timezone!r} is for the default row: give "
                "interval_seconds too (a whole number of days)"
            )
        try:
            check_zone(self.timezone, self.interval_seconds)
        except ZoneError as exc:
            raise RegistrationError(f"{self.key}: {exc}") from None

    @property
    def is_async(self) -> bool:
        """Return whether calling the function gives a coroutine to await."""
        return returns_coroutine(self.func)

    @property
    def takes_slot(self) -> bool:
        """Return whether the function declares ``scheduled_at`` to receive its run's slot."""
        signature = _signature(self.func)
        if signature is None:
            return False
        parameter = signature.parameters.get(SLOT_PARAMETER)
        return parameter is not None and parameter.kind not in _NO_KEYWORD

    def check_kwargs(self, kwargs: object, *, complete: bool = True) -> dict[str, Any]:
        """Return ``kwargs`` if the function can be called with them, else raise naming why.

        ``complete=False`` checks only the names given, not that every required one is.
        """
        if not isinstance(kwargs, dict):
            raise KwargsError(
                f"keyword arguments must be a JSON object (names to values), "
                f"not {type(kwargs).__name__} {kwargs!r}",
                code="not_object",
                type=type(kwargs).__name__,
            )
        for name in kwargs:
            if not isinstance(name, str) or not name.isidentifier():
                raise KwargsError(f"{name!r} is not an argument name", str(name), code="bad_name")
        if SLOT_PARAMETER in kwargs:
            raise KwargsError(
                f"{SLOT_PARAMETER!r} is filled in with each run's slot; remove it from the "
                "keyword arguments",
                SLOT_PARAMETER,
                code="slot",
            )
        signature = _signature(self.func)
        if signature is None:
            return kwargs
        parameters = signature.parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        named = [n for n, p in parameters.items() if p.kind not in (*_NO_KEYWORD, p.VAR_KEYWORD)]
        for name in kwargs:
            if name not in named and not takes_any:
                known = ", ".join(n for n in named if n != SLOT_PARAMETER) or "no arguments"
                raise KwargsError(
                    f"unknown argument {name!r}; it takes: {known}",
                    name,
                    code="unknown",
                    known=known,
                )
        required = [n for n in named if parameters[n].default is parameters[n].empty]
        for name in required if complete else ():
            if name not in kwargs and name != SLOT_PARAMETER:
                raise KwargsError(f"missing required argument {name!r}", name, code="missing")
        return kwargs


class Registry:
    """Hold registered functions by key (the function's dotted path)."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}

    @overload
    def register(self, func: F, /) -> F: ...

    @overload
    def register(
        self,
        *,
        interval_seconds: int | None = None,
        enabled: bool = True,
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        timezone: str = "",
    ) -> Callable[[F], F]: ...

    def register(
        self,
        # Not positional-only here (though it is in the overload) to dodge a mypy false positive.
        func: Callable[..., Any] | None = None,
        *,
        interval_seconds: int | None = None,
        enabled: bool = True,
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        timezone: str = "",
    ) -> Any:
        """Register a function for scheduling; use bare or with defaults for its row.

        ``name`` names the default row (else ``autosched.defaults`` derives a readable one);
        ``timezone`` (an IANA name, with an interval of whole days) is its time zone.
        """

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self._add(func, interval_seconds, enabled, dict(kwargs or {}), name, timezone)
            return func

        if func is None:
            return decorator
        return decorator(func)

    def _add(
        self,
        func: Callable[..., Any],
        interval_seconds: int | None,
        enabled: bool,
        kwargs: dict[str, Any],
        name: str | None,
        timezone: str = "",
    ) -> None:
        if not callable(func):
            hint = f"; did you mean register(interval_seconds={func!r})?" if func else ""
            raise RegistrationError(f"register() needs a function, not {func!r}{hint}")
        try:
            key = function_key(func)
        except AttributeError:
            raise RegistrationError(
                f"register() needs a function with __module__ and __qualname__, not {func!r}"
            ) from None
        entry = RegisteredFunction(key, func, interval_seconds, enabled, kwargs, name, timezone)
        existing = self._functions.get(key)
        # The same object again (an import run twice) is harmless; another object under the
        # same key would make the row ambiguous.
        if existing is not None and existing.func is not func:
            raise RegistrationError(
                f"{key} is already registered to another function ({existing.func!r}); "
                "two functions cannot share one key"
            )
        clash = next(
            (o for o in self._functions.values() if o.key != key and _same(o.name, name)),
            None,
        )
        if clash is not None:
            raise RegistrationError(
                f"{key}: the name {name!r} is already given to {clash.key}; "
                "two default rows cannot share one name"
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
