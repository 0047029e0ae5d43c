"""The schedule: one ``PeriodicTask`` row per scheduled function and interval."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Mod
from django.db.models.lookups import Exact
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from autosched.humanize import humanize_interval, schedule_words
from autosched.models.fields import MAX_JSON_DEPTH, KwargsField, Unreadable, json_problem
from autosched.models.schedule_checks import ScheduleChecks
from autosched.registry import KwargsError, RegisteredFunction, registry
from autosched.schedule import effective_offset
from autosched.scheduler import MAX_INTERVAL_SECONDS, next_run_after_last
from autosched.scheduler.errors import trim
from autosched.worker import (
    DEFAULT_BACKEND,
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    check_backend,
)
from autosched.zones import DAY, MAX_ZONE_LENGTH

__all__ = ["PeriodicTask", "PeriodicTaskQuerySet", "RunOn"]


class RunOn(models.TextChoices):
    """Where a row's runs happen."""

    PROCESS = "process", _("in the scheduler process")
    WORKER = "worker", _("enqueued to a Django Tasks worker")


#: What the form says when kwargs do not fit the function, by KwargsError.code.
KWARGS_MESSAGES = {
    "not_object": _(
        "Keyword arguments for %(function)s must be a JSON object (names to values), not %(type)s."
    ),
    "bad_name": _("Keyword arguments for %(function)s: %(name)s is not an argument name."),
    "slot": _(
        "Keyword arguments for %(function)s: scheduled_at is filled in with each run's slot; "
        "remove it from the keyword arguments."
    ),
    "unknown": _(
        "Keyword arguments for %(function)s: unknown argument %(name)s; it takes: %(known)s."
    ),
    "missing": _("Keyword arguments for %(function)s: missing required argument %(name)s."),
}
#: Longest keyword arguments shown in the admin's list (the task's page shows them whole).
KWARGS_DISPLAY_LIMIT = 200
#: What the form says when kwargs hold what the database or Python cannot keep.
JSON_MESSAGES = {
    "deep": _("Keyword arguments may be nested at most %(depth)s levels deep."),
    "not_finite": _(
        "Keyword arguments hold a number too large or not a number (NaN, Infinity): JSON "
        "numbers are finite."
    ),
    "nul": _("Keyword arguments hold a NUL character (\\u0000), which the database cannot store."),
}
#: JSON's own words for the types a decoded value may have, for the "not_object" message.
JSON_TYPES = {
    "str": _("a string"),
    "JSONString": _("a string"),
    "list": _("an array"),
    "int": _("a number"),
    "float": _("a number"),
    "bool": _("true or false"),
    "NoneType": _("null"),
}


class PeriodicTaskQuerySet(models.QuerySet["PeriodicTask"]):
    """Queries over periodic tasks, split by whether their function is registered in code."""

    def registered(self) -> PeriodicTaskQuerySet:
        """Return the tasks whose function is registered in this process."""
        return self.filter(function__in=registry.keys())

    def unregistered(self) -> PeriodicTaskQuerySet:
        """Return the tasks whose function is not registered (the scheduler skips them)."""
        return self.exclude(function__in=registry.keys())


class PeriodicTask(ScheduleChecks, models.Model):
    """Run a registered function every ``interval_seconds`` while ``enabled``."""

    name = models.CharField(
        _("name"),
        max_length=200,
        unique=True,
        help_text=_("A unique name for this schedule, shown in the logs."),
    )
    function = models.CharField(
        _("function"),
        max_length=255,
        db_index=True,
        help_text=_(
            "The function to run. Only functions registered in code with "
            "@autosched.register can be chosen."
        ),
    )
    interval_seconds = models.PositiveIntegerField(
        _("interval (seconds)"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INTERVAL_SECONDS)],
        help_text=_(
            "Seconds between two runs: a whole number from 1 to 31536000 (one year). "
            "A running scheduler applies a change within about a second."
        ),
    )
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("Untick to stop running this task without deleting its schedule."),
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("Notes for operators; not used by autosched.")
    )
    run_on = models.CharField(
        _("run on"),
        max_length=20,
        choices=RunOn.choices,
        default=RunOn.PROCESS,
        help_text=_("Run in the scheduler process, or enqueue each run for a Django Tasks worker."),
    )
    tasks_backend = models.CharField(
        _("Tasks backend"),
        max_length=100,
        default=DEFAULT_BACKEND,
        help_text=_("For worker runs: the alias of a backend in the TASKS setting."),
    )
    queue_name = models.CharField(
        _("queue"), max_length=100, default=DEFAULT_QUEUE, help_text=_("For worker runs.")
    )
    offset_seconds = models.PositiveIntegerField(
        _("offset (seconds)"),
        null=True,
        blank=True,
        help_text=_(
            "Where in each interval the runs fall, in seconds from the UTC epoch grid: with an "
            "interval of one day, 10800 is 03:00 UTC, or 03:00 local time in the row's time "
            "zone. Empty: spread, a fixed offset taken from the name, so that many tasks of "
            "one interval do not all run at once."
        ),
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=MAX_ZONE_LENGTH,
        blank=True,
        default="",
        help_text=_(
            "For an interval of whole days: the offset is then a wall-clock time in this "
            "zone (an IANA name such as Europe/Madrid), kept across daylight saving changes. "
            "Empty: UTC."
        ),
    )
    kwargs = KwargsField(
        _("keyword arguments"),
        default=dict,
        blank=True,
        help_text=_(
            'Passed to the function, as a JSON object: {"feed_id": 3}. A function that '
            "declares scheduled_at receives the run's slot there instead."
        ),
    )
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "An async run still going after this is cancelled; a sync one is reported as "
            "overrunning. On a worker, the engine enforces time limits. Empty: no limit."
        ),
    )
    priority = models.SmallIntegerField(
        _("priority"),
        default=0,
        validators=[MinValueValidator(MIN_PRIORITY), MaxValueValidator(MAX_PRIORITY)],
        help_text=_("For worker runs: from -100 to 100; higher runs first."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = PeriodicTaskQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        verbose_name = _("periodic task")
        verbose_name_plural = _("periodic tasks")
        permissions = (("run_periodictask", "Can run periodic tasks now"),)
        constraints = (
            models.CheckConstraint(
                condition=models.Q(interval_seconds__gte=1),
                name="autosched_periodictask_interval_seconds_gte_1",
            ),
            models.CheckConstraint(
                condition=models.Q(interval_seconds__lte=MAX_INTERVAL_SECONDS),
                name="autosched_periodictask_interval_seconds_lte_max",
            ),
            models.CheckConstraint(
                condition=models.Q(offset_seconds__isnull=True)
                | models.Q(offset_seconds__gte=0, offset_seconds__lt=models.F("interval_seconds")),
                name="autosched_periodictask_offset_below_interval",
            ),
            models.CheckConstraint(
                condition=models.Q(timezone="") | models.Q(Exact(Mod("interval_seconds", DAY), 0)),
                name="autosched_periodictask_timezone_whole_days",
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__isnull=True) | models.Q(timeout_seconds__gte=1),
                name="autosched_periodictask_timeout_seconds_gte_1",
            ),
            models.CheckConstraint(
                condition=models.Q(run_on__in=RunOn.values),
                name="autosched_periodictask_run_on_valid",
            ),
        )

    def __str__(self) -> str:
        # A name written by raw SQL may be bytes (a BLOB on SQLite): say it, never fail.
        return self.name if isinstance(self.name, str) else repr(self.name)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a row whose keyword arguments cannot be read keeps them as they are stored."""
        if isinstance(self.kwargs, Unreadable) and self.pk is not None:
            if kwargs.get("update_fields") is None:
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.name != "kwargs"
                ]
            else:
                kwargs["update_fields"] = [f for f in kwargs["update_fields"] if f != "kwargs"]
        super().save(*args, **kwargs)

    @property
    def unreadable(self) -> str | None:
        """Return why this row, written around the checks, cannot be used as read; else None.

        The scheduler skips such a row with a warning; the admin shows it, and lets it be
        deleted.
        """
        if not isinstance(self.name, str):
            return gettext("its name is not text but %(type)s") % {"type": type(self.name).__name__}
        if not isinstance(self.function, str):
            return gettext("its function is not text but %(type)s") % {
                "type": type(self.function).__name__
            }
        if isinstance(self.kwargs, Unreadable):
            return gettext("its keyword arguments cannot be read (%(reason)s)") % {
                "reason": self.kwargs.reason
            }
        return None

    @property
    def registered_function(self) -> RegisteredFunction | None:
        """Return what ``function`` names in the registry, or None if it is not registered."""
        return registry.get(self.function)

    @property
    def is_registered(self) -> bool:
        """Return whether ``function`` names a registered function."""
        return self.function in registry

    @property
    def effective_offset(self) -> int | None:
        """Return the offset the scheduler uses: the row's own, or the spread one."""
        if not isinstance(self.interval_seconds, int) or self.interval_seconds < 1:
            return None
        if not isinstance(self.name, str):  # a BLOB written by raw SQL: no spread offset
            return None
        return effective_offset(self.name, self.interval_seconds, self.offset_seconds)

    def expected_next_run(
        self, after: datetime | None = None, last_run: datetime | None = None
    ) -> datetime | None:
        """Return when the next run falls by the row alone (no scheduler asked), or None.

        The first slot after ``after`` (default: now), and, as the scheduler places it, at
        least half an interval after ``last_run`` if the task ran. The core's rule decides.
        """
        offset = self.effective_offset
        if not self.enabled or offset is None:
            return None
        now = after or datetime.now(UTC)
        zone = self.timezone or None
        return next_run_after_last(self.interval_seconds, offset, now, last_run, timezone=zone)

    @property
    def kwargs_display(self) -> str:
        """Return the keyword arguments compactly, as a call would have them: who='ann', n=2."""
        if not isinstance(self.kwargs, dict):
            return str(self.kwargs) if isinstance(self.kwargs, Unreadable) else repr(self.kwargs)
        return ", ".join(f"{name}={value!r}" for name, value in self.kwargs.items())

    def short_kwargs_display(self, limit: int = KWARGS_DISPLAY_LIMIT) -> str:
        """Return ``kwargs_display`` cut to ``limit`` characters: a row may hold megabytes."""
        return trim(self.kwargs_display, limit)

    @property
    def schedule_display(self) -> str:
        """Return when the task runs, in words: "every hour at :15"."""
        offset = self.effective_offset
        if offset is None:
            return ""
        return schedule_words(
            self.interval_seconds, offset, self.offset_seconds is None, self.timezone
        )

    @property
    def interval_display(self) -> str:
        """Return the interval in words, e.g. "every 5 minutes"."""
        if isinstance(self.interval_seconds, int) and self.interval_seconds >= 1:
            return humanize_interval(self.interval_seconds)
        return ""

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """Validate the fields and reject a ``function`` that is not registered.

        This lives here rather than in ``clean()`` so that a form leaving ``function`` out
        (the admin's list editing) can still disable or retime a row whose function is gone.
        """
        errors: dict[str, list[ValidationError]] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        checked = exclude is None or "function" not in exclude
        if checked and "function" not in errors and self.function and not self.is_registered:
            errors["function"] = [
                ValidationError(
                    _(
                        "%(function)s is not a registered function. Choose one registered "
                        "with @autosched.register, or deploy the code that registers it."
                    ),
                    code="unregistered",
                    params={"function": self.function},
                )
            ]
        problem = check_backend(self.tasks_backend) if self.run_on == RunOn.WORKER else None
        if problem and not errors.keys() & {"run_on", "tasks_backend"}:
            errors["tasks_backend"] = [ValidationError(problem, code="unknown_backend")]
        self._check_timezone(errors, exclude)
        self._check_offset(errors, exclude)
        self._check_kwargs(errors, exclude)
        self._check_name(errors, exclude)
        if self.run_on == RunOn.WORKER and not (self.queue_name or "").strip():
            errors.setdefault("queue_name", []).append(
                ValidationError(_("A worker run needs a queue name."), code="no_queue")
            )
        if errors:
            raise ValidationError(errors)

    def _check_name(
        self, errors: dict[str, list[ValidationError]], exclude: Collection[str] | None
    ) -> None:
        name = self.name
        # Excluded: the form refused the name already (empty, too long), with its own error.
        if "name" in errors or (exclude and "name" in exclude) or not isinstance(name, str):
            return
        hidden = [c for c in name if unicodedata.category(c)[0] in "CZ" and c != " "]
        if not name.strip() or hidden or name != name.strip():
            errors["name"] = [
                ValidationError(
                    _(
                        "The name must be visible text without leading or trailing spaces, "
                        "control or invisible characters (found %(found)s)."
                    ),
                    code="invisible_name",
                    params={"found": ", ".join(f"U+{ord(c):04X}" for c in hidden) or "spaces"},
                )
            ]

    def validate_unique(self, exclude: Collection[str] | None = None) -> None:
        """Refuse a name that differs from another task's only in case, like the admin's."""
        super().validate_unique(exclude)
        if (exclude and "name" in exclude) or not isinstance(self.name, str):
            return
        others = type(self)._default_manager.filter(name__iexact=self.name).exclude(pk=self.pk)
        clash = others.values_list("name", flat=True).first()
        if clash is not None:
            raise ValidationError(
                {
                    "name": ValidationError(
                        _("%(other)s already exists; names may not differ only in case."),
                        code="unique_ignoring_case",
                        params={"other": clash},
                    )
                }
            )

    def _check_kwargs(
        self, errors: dict[str, list[ValidationError]], exclude: Collection[str] | None
    ) -> None:
        if "kwargs" in errors or (exclude and "kwargs" in exclude):
            return
        if isinstance(self.kwargs, Unreadable):
            errors["kwargs"] = [
                ValidationError(
                    _("The stored keyword arguments cannot be read (%(reason)s)."),
                    code="kwargs_unreadable",
                    params={"reason": self.kwargs.reason},
                )
            ]
            return
        if problem := json_problem(self.kwargs):
            errors["kwargs"] = [
                ValidationError(
                    JSON_MESSAGES[problem],
                    code=f"kwargs_{problem}",
                    params={"depth": MAX_JSON_DEPTH},
                )
            ]
            return
        registered = self.registered_function
        if registered is None:
            return
        try:
            registered.check_kwargs(self.kwargs)
        except KwargsError as exc:
            params: dict[str, object] = {"function": self.function, **exc.params}
            if "type" in params:
                params["type"] = JSON_TYPES.get(str(params["type"]), params["type"])
            errors["kwargs"] = [
                ValidationError(
                    KWARGS_MESSAGES.get(exc.code, KWARGS_MESSAGES["unknown"]),
                    code=f"kwargs_{exc.code}",
                    params=params,
                )
            ]
