"""The admin form: a periodic task may only name a registered function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from autosched.models import PeriodicTask
from autosched.registry import registry
from autosched.worker import backend_aliases

TARGET_FIELDS = ("run_on", "tasks_backend", "queue_name", "priority")

if TYPE_CHECKING:
    _ModelForm = forms.ModelForm[PeriodicTask]
else:  # Django's classes are not subscriptable at run time without django-stubs-ext.
    _ModelForm = forms.ModelForm


class PeriodicTaskForm(_ModelForm):
    """Edit a periodic task, choosing its function from the registry."""

    function = forms.ChoiceField(
        label=_("function"),
        help_text=_(
            "Only functions registered in code with @autosched.register are offered. "
            "A task whose function is no longer registered is skipped by the scheduler."
        ),
    )

    class Meta:
        model = PeriodicTask
        fields = (
            "name",
            "function",
            "interval_seconds",
            "enabled",
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
