"""The admin form: a periodic task may only name a registered function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from autosched.models import PeriodicTask
from autosched.registry import registry

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
        fields = ("name", "function", "interval_seconds", "enabled", "description")

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
