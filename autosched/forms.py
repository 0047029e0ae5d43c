"""The admin form: a registered function, an interval and offset in words, a time zone from a
searchable list, checked kwargs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from autosched.durations import (
    INTERVAL_EXAMPLES,
    OFFSET_EXAMPLES,
    format_interval,
    format_offset,
    parse_interval,
    parse_offset,
    split_weekday,
)
from autosched.models import PeriodicTask
from autosched.models.fields import MAX_JSON_DEPTH, json_depth
from autosched.models.periodic_task import JSON_MESSAGES
from autosched.registry import registry
from autosched.scheduler import MAX_INTERVAL_SECONDS
from autosched.worker import (
    DEFAULT_BACKEND,
    backend_aliases,
    backend_queues,
    backend_takes_priority,
)
from autosched.zones import MAX_ZONE_LENGTH, WEEK, zone_names

TARGET_FIELDS = ("run_on", "tasks_backend", "queue_name", "priority")


def _say(message: Any, **params: Any) -> str:
    """Return ``message % params`` lazily, so it is said in the language active when shown."""
    return lazy(lambda: str(message) % {k: str(v) for k, v in params.items()}, str)()


if TYPE_CHECKING:
    _ModelForm = forms.ModelForm[PeriodicTask]
else:  # Django's classes are not subscriptable at run time without django-stubs-ext.
    _ModelForm = forms.ModelForm


class IntervalField(forms.IntegerField):
    """Seconds typed as "90", "90s", "15m", "1h 30m" or "2d", and shown back that way."""

    widget = forms.TextInput
    default_error_messages = {  # noqa: RUF012 - Django's own pattern for error messages
        "invalid": _say(_("Enter a span of time, e.g. %(examples)s."), examples=INTERVAL_EXAMPLES),
        "min_value": _say(
            _("Enter at least 1 second, e.g. %(examples)s."), examples=INTERVAL_EXAMPLES
        ),
        "max_value": _say(
            _("Enter at most one year (365d, that is 31536000 seconds), e.g. %(examples)s."),
            examples=INTERVAL_EXAMPLES,
        ),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_INTERVAL_SECONDS)
        kwargs.setdefault(
            "help_text", _say(_("For example %(examples)s."), examples=INTERVAL_EXAMPLES)
        )
        super().__init__(**kwargs)

    def parse(self, text: str) -> int:
        """Return the seconds ``text`` says, or raise ValueError."""
        return parse_interval(text)

    def format(self, seconds: int) -> str:
        """Say ``seconds`` the way ``parse`` reads it."""
        return format_interval(seconds)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        try:
            return self.parse(str(value))
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def prepare_value(self, value: Any) -> Any:
        # Shown back in the style typed: "15m", whether the row's value or a posted "900"
        # shown again for another field's error. What does not parse is shown as typed.
        if isinstance(value, str):
            try:
                value = self.parse(value)
            except ValueError:
                return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= self.min_seconds:
            return self.format(value)
        return value

    #: The least value shown in words; below it (0 for an interval), shown as it is.
    min_seconds = 1


class ScheduleInput(forms.TextInput):
    """The list's interval input, with the row's schedule in words under it."""

    def __init__(self, words: str = "", attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"size": 7, "class": "autosched-interval", **(attrs or {})})
        self.words = words

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].setdefault("aria-label", str(_("Interval")))
        return context

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        """Render the input, then the words."""
        rendered = super().render(name, value, attrs, renderer)
        if not self.words:
            return rendered
        return format_html('{}<div class="autosched-words">{}</div>', rendered, self.words)


class OffsetField(IntervalField):
    """An offset typed as a time ("03:00", "0:15:00"), in seconds ("900"), or a weekday and a
    time for a weekly row ("Mon 09:00"); empty: spread."""

    default_error_messages = {  # noqa: RUF012 - Django's own pattern for error messages
        "invalid": _say(_("Enter a time or seconds, e.g. %(examples)s."), examples=OFFSET_EXAMPLES),
        "max_value": _say(
            _("Enter an offset below the interval, e.g. %(examples)s."), examples=OFFSET_EXAMPLES
        ),
    }
    min_seconds = 0

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_INTERVAL_SECONDS - 1)
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            _(
                "Where in each interval the runs fall: with an interval of one day, "
                '"03:00" runs at 03:00 in the time zone below (UTC if empty); with 7 days, '
                '"Mon 09:00" on Mondays; with one hour, "0:15:00" (or "900") at :15. '
                "Empty: spread, a fixed offset taken from the name."
            ),
        )
        super().__init__(**kwargs)
        #: Shown with its weekday ("Mon 09:00"): the row's interval is whole weeks.
        self.weekly = False
        #: The last value parsed named a weekday.
        self.typed_weekday = False

    def parse(self, text: str) -> int:
        """Return the seconds of an offset ``text``, or raise ValueError."""
        return parse_offset(text)

    def to_python(self, value: Any) -> int | None:
        self.typed_weekday = isinstance(value, str) and split_weekday(value)[0] is not None
        return super().to_python(value)

    def format(self, seconds: int) -> str:
        """Say an offset as a time: "03:00", or "Mon 09:00" for a weekly row."""
        return format_offset(seconds, weekly=self.weekly)


class ZoneInput(forms.TextInput):
    """A text input that suggests every IANA zone as one types: a ``<datalist>``, no script."""

    list_id = "autosched-zones"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        base = {"list": self.list_id, "size": 32, "autocomplete": "off", "spellcheck": "false"}
        super().__init__({**base, **(attrs or {})})

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        """Render the input, then the list of zones it suggests."""
        options = format_html_join("", '<option value="{}"></option>', ((z,) for z in zone_names()))
        return format_html(
            '{}<datalist id="{}">{}</datalist>',
            super().render(name, value, attrs, renderer),
            self.list_id,
            options,
        )


class ZoneField(forms.CharField):
    """An IANA time zone, typed or picked from the suggestions; empty: UTC."""

    widget = ZoneInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", MAX_ZONE_LENGTH)
        kwargs.setdefault(
            "help_text",
            _(
                "Only for an interval of whole days: the offset is then the wall-clock time in "
                "this zone, kept across daylight saving changes (a time the clock skips runs "
                "at the first moment after the change; a time it repeats, the first time). "
                "Type to search, e.g. Madrid. Empty: UTC."
            ),
        )
        super().__init__(**kwargs)


class KwargsFormField(forms.JSONField):
    """The keyword arguments as JSON; text Python cannot decode gets a message, not a 500."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(
                JSON_MESSAGES["deep"], code="kwargs_deep", params={"depth": MAX_JSON_DEPTH}
            ) from None
        except ValueError:  # a number past Python's limit of 4,300 digits
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Shown back as typed when it cannot be decoded, or printed again (too deep).
        try:
            value = super().bound_data(data, initial)
        except (ValueError, RecursionError):
            return InvalidJSONInput(data)
        if not isinstance(value, InvalidJSONInput) and json_depth(value) > MAX_JSON_DEPTH:
            return InvalidJSONInput(data)
        return value


class PeriodicTaskForm(_ModelForm):
    """Edit a periodic task, choosing its function from the registry."""

    function = forms.ChoiceField(
        label=_("Function"),
        help_text=_(
            "Only functions registered in code with @autosched.register are offered. "
            "A task whose function is no longer registered is skipped by the scheduler."
        ),
    )

    interval_seconds = IntervalField(label=_("Interval"))
    offset_seconds = OffsetField(label=_("Offset"))
    timezone = ZoneField(label=_("Time zone"))

    class Meta:
        model = PeriodicTask
        fields = (
            "name",
            "function",
            "interval_seconds",
            "offset_seconds",
            "timezone",
            "enabled",
            "kwargs",
            "timeout_seconds",
            "run_on",
            "tasks_backend",
            "queue_name",
            "priority",
            "description",
        )
        field_classes = {"kwargs": KwargsFormField}  # noqa: RUF012 - Django's Meta pattern

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", "---------"), *registry.choices()]
        current = self.instance.function if self.instance.pk else ""
        if current and current not in registry:
            # Show what the row holds so the operator sees it; the model still refuses to
            # save it until another function is chosen.
            choices.insert(
                1, (current, _say(_("%(function)s (⚠ not registered)"), function=current))
            )
        function = self.fields["function"]
        assert isinstance(function, forms.ChoiceField)
        function.choices = choices
        offset = self.fields.get("offset_seconds")
        if isinstance(offset, OffsetField):
            interval = self._interval()
            offset.weekly = isinstance(interval, int) and interval > 0 and interval % WEEK == 0
        self._set_up_target()

    def _interval(self) -> int | None:
        """Return the interval the form shows: the posted one if it reads, else the row's."""
        if self.is_bound:
            try:
                return parse_interval(str(self.data.get(self.add_prefix("interval_seconds"), "")))
            except ValueError:
                return None
        interval = self.initial.get("interval_seconds", self.instance.interval_seconds)
        return interval if isinstance(interval, int) else None

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

    def clean(self) -> dict[str, Any] | None:
        """Refuse a queue or a priority the chosen Tasks backend does not take."""
        cleaned = super().clean() or self.cleaned_data
        self._check_weekday(cleaned.get("interval_seconds"))
        if cleaned.get("run_on") != "worker":
            return cleaned
        backend = cleaned.get("tasks_backend") or self.instance.tasks_backend or DEFAULT_BACKEND
        if "queue_name" not in self.errors:
            self._check_queue(backend, cleaned.get("queue_name") or self.instance.queue_name)
        if "priority" not in self.errors:
            priority = cleaned.get("priority")
            self._check_priority(backend, self.instance.priority if priority is None else priority)
        return cleaned

    def _check_weekday(self, interval: int | None) -> None:
        offset = self.fields.get("offset_seconds")
        typed = isinstance(offset, OffsetField) and offset.typed_weekday
        if not typed or "offset_seconds" in self.errors or not isinstance(interval, int):
            return
        if interval % WEEK:
            self.add_error(
                "offset_seconds",
                forms.ValidationError(
                    _(
                        "A weekday is only for an interval of whole weeks (7d, 14d, …): "
                        'for this interval write a time, e.g. "09:00".'
                    ),
                    code="weekday_not_weekly",
                ),
            )

    def _check_queue(self, backend: str, queue: str) -> None:
        queues = backend_queues(backend)
        if queue and queues and queue not in queues:
            self.add_error(
                "queue_name",
                forms.ValidationError(
                    _(
                        "The Tasks backend %(backend)s serves no queue %(queue)s; choose one "
                        "of: %(queues)s (its QUEUES setting)."
                    ),
                    code="unknown_queue",
                    params={
                        "backend": repr(backend),
                        "queue": repr(queue),
                        "queues": ", ".join(sorted(queues)),
                    },
                ),
            )

    def _check_priority(self, backend: str, priority: int) -> None:
        if priority and backend_takes_priority(backend) is False:
            self.add_error(
                "priority",
                forms.ValidationError(
                    _(
                        "The Tasks backend %(backend)s does not take priorities: it would "
                        "refuse every run. Leave the priority at 0."
                    ),
                    code="priority_unsupported",
                    params={"backend": repr(backend)},
                ),
            )
