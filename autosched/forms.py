"""The admin form: a registered function, an interval and offset in words, checked kwargs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from autosched.durations import (
    INTERVAL_EXAMPLES,
    OFFSET_EXAMPLES,
    format_interval,
    format_offset,
    parse_interval,
    parse_offset,
)
from autosched.models import PeriodicTask
from autosched.registry import registry
from autosched.scheduler import MAX_INTERVAL_SECONDS
from autosched.worker import backend_aliases

TARGET_FIELDS = ("run_on", "tasks_backend", "queue_name", "priority")

if TYPE_CHECKING:
    _ModelForm = forms.ModelForm[PeriodicTask]
else:  # Django's classes are not subscriptable at run time without django-stubs-ext.
    _ModelForm = forms.ModelForm


class _TypedSpanField(forms.IntegerField):
    """Seconds typed in words, parsed by ``parse`` and shown back by ``show``."""

    widget = forms.TextInput
    examples = ""
    lowest = 1  # the smallest value shown in words; others are shown as they are

    @staticmethod
    def parse(text: str) -> int:
        raise NotImplementedError

    @staticmethod
    def show(seconds: int) -> str:
        raise NotImplementedError

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        try:
            return self.parse(str(value))
        except ValueError:
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"examples": self.examples}
            ) from None

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= self.lowest:
            return self.show(value)
        return value


class IntervalField(_TypedSpanField):
    """Seconds typed as "90", "90s", "15m", "1h 30m" or "2d", and shown back that way."""

    default_error_messages = {  # noqa: RUF012 - Django's own pattern for error messages
        "invalid": _("Enter a span of time, e.g. %(examples)s."),
    }
    examples = INTERVAL_EXAMPLES
    parse = staticmethod(parse_interval)
    show = staticmethod(format_interval)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_INTERVAL_SECONDS)
        kwargs.setdefault("help_text", _('For example "90", "90s", "15m", "1h 30m" or "2d".'))
        super().__init__(**kwargs)


class OffsetField(_TypedSpanField):
    """An offset typed as a time ("03:00", "0:15:00") or in seconds ("900"); empty: spread."""

    default_error_messages = {  # noqa: RUF012 - Django's own pattern for error messages
        "invalid": _("Enter a time or seconds, e.g. %(examples)s."),
    }
    examples = OFFSET_EXAMPLES
    lowest = 0
    parse = staticmethod(parse_offset)
    show = staticmethod(format_offset)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_INTERVAL_SECONDS - 1)
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            _(
                "Where in each interval the runs fall, on the UTC clock: with an interval of "
                'one day, "03:00" runs at 03:00 UTC; with one hour, "0:15:00" (or "900") at '
                ":15. Empty: spread, a fixed offset taken from the name."
            ),
        )
        super().__init__(**kwargs)


class PeriodicTaskForm(_ModelForm):
    """Edit a periodic task, choosing its function from the registry."""

    function = forms.ChoiceField(
        label=_("function"),
        help_text=_(
            "Only functions registered in code with @autosched.register are offered. "
            "A task whose function is no longer registered is skipped by the scheduler."
        ),
    )

    interval_seconds = IntervalField(label=_("interval"))
    offset_seconds = OffsetField(label=_("offset"))

    class Meta:
        model = PeriodicTask
        fields = (
            "name",
            "function",
            "interval_seconds",
            "offset_seconds",
            "enabled",
            "kwargs",
            "timeout_seconds",
            "run_on",
            "tasks_backend",
            "queue_name",
            "priority",
            "description",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", "---------"), *registry.choices()]
        current = self.instance.function if self.instance.pk else ""
        if current and current not in registry:
            # Show what the row holds so the operator sees it; the model still refuses to
            # save it until another function is chosen.
            choices.insert(1, (current, f"{current} (⚠ not registered)"))
        function = self.fields["function"]
        assert isinstance(function, forms.ChoiceField)
        function.choices = choices
        self._set_up_target()

    def _set_up_target(self) -> None:
        if "tasks_backend" in self.fields:
            # Offer the TASKS setting's aliases, and the row's own value even if it is no longer
            # configured (the model rejects it only for worker runs).
            current = self.instance.tasks_backend
            self.fields["tasks_backend"] = forms.ChoiceField(
                label=_("Tasks backend"),
                choices=[(alias, alias) for alias in sorted({*backend_aliases(), current} - {""})],
                help_text=self.fields["tasks_backend"].help_text,
            )
        for name in TARGET_FIELDS:
            if name in self.fields:
                # Left out of the posted data, a field keeps the row's value or the default.
                self.fields[name].required = False
