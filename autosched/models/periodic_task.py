"""The schedule: one ``PeriodicTask`` row per scheduled function and interval."""

from __future__ import annotations

from collections.abc import Collection

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from autosched.humanize import humanize_interval
from autosched.registry import RegisteredFunction, registry
from autosched.scheduler import MAX_INTERVAL_SECONDS
from autosched.worker import (
    DEFAULT_BACKEND,
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    check_backend,
)

__all__ = ["PeriodicTask", "PeriodicTaskQuerySet", "RunOn"]


class RunOn(models.TextChoices):
    """Where a row's runs happen."""

    PROCESS = "process", _("in the scheduler process")
    WORKER = "worker", _("enqueued to a Django Tasks worker")


class PeriodicTaskQuerySet(models.QuerySet["PeriodicTask"]):
    """Queries over periodic tasks, split by whether their function is registered in code."""

    def registered(self) -> PeriodicTaskQuerySet:
        """Return the tasks whose function is registered in this process."""
        return self.filter(function__in=registry.keys())

    def unregistered(self) -> PeriodicTaskQuerySet:
        """Return the tasks whose function is not registered (the scheduler skips them)."""
        return self.exclude(function__in=registry.keys())


class PeriodicTask(models.Model):
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
        )

    def __str__(self) -> str:
        return self.name

    @property
    def registered_function(self) -> RegisteredFunction | None:
        """Return what ``function`` names in the registry, or None if it is not registered."""
        return registry.get(self.function)

    @property
    def is_registered(self) -> bool:
        """Return whether ``function`` names a registered function."""
        return self.function in registry

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
        if errors:
            raise ValidationError(errors)
