"""The periodic task admin: operators enable, disable and retime tasks here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from autosched.admin.live_status import LiveStatusAdmin
from autosched.forms import IntervalField, PeriodicTaskForm
from autosched.models import PeriodicTask, RunOn
from autosched.registry import registry

if TYPE_CHECKING:
    from django import forms
    from django.db.models import Field
    from django.utils.functional import _StrOrPromise


class RegisteredFilter(admin.SimpleListFilter):
    """Filter tasks by whether their function is registered in code."""

    title = _("registered")
    parameter_name = "registered"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, _StrOrPromise]]:
        return [("yes", _("Registered")), ("no", _("Not registered"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[PeriodicTask]
    ) -> QuerySet[PeriodicTask]:
        if self.value() == "yes":
            return queryset.filter(function__in=registry.keys())
        if self.value() == "no":
            return queryset.exclude(function__in=registry.keys())
        return queryset


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(LiveStatusAdmin):
    """List, edit, enable and disable periodic tasks."""

    form = PeriodicTaskForm
    list_display = (
        "name",
        "function_display",
        "interval_seconds",
        "interval_words",
        "enabled",
        "target_display",
    )
    list_editable = ("enabled", "interval_seconds")
    list_filter = ("enabled", RegisteredFilter, "function")
    search_fields = ("name", "function", "description")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "function", "interval_seconds", "offset_seconds", "enabled")}),
        (_("How it runs"), {"fields": ("kwargs", "timeout_seconds")}),
        (_("Where it runs"), {"fields": ("run_on", "tasks_backend", "queue_name", "priority")}),
        (_("Notes"), {"fields": ("description", "created_at", "updated_at")}),
    )
    actions = ("enable_tasks", "disable_tasks", "run_now")

    def formfield_for_dbfield(
        self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        """Take the interval in words in the list too ("15m"), within its limits."""
        if db_field.name == "interval_seconds":
            return IntervalField(label=_("Interval"))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("runs on"), ordering="run_on")
    def target_display(self, task: PeriodicTask) -> str:
        """Show where the runs go: this process, or a Tasks backend's queue."""
        if task.run_on == RunOn.WORKER:
            return f"worker: {task.tasks_backend} / {task.queue_name} (priority {task.priority})"
        return str(_("scheduler process"))

    @admin.display(description=_("function"), ordering="function")
    def function_display(self, task: PeriodicTask) -> SafeString:
        """Show the function, marked when it is not registered."""
        if task.is_registered:
            return format_html("{}", task.function)
        return format_html(
            '{} <strong title="{}">⚠ not registered</strong>',
            task.function,
            _("No registered function has this name: the scheduler skips this task."),
        )

    @admin.display(description=_("schedule"), ordering="interval_seconds")
    def interval_words(self, task: PeriodicTask) -> str:
        """Show the schedule in words: "every day at 03:00 UTC"."""
        return task.schedule_display

    @admin.action(description=_("Enable selected tasks"), permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        """Enable the selected tasks."""
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description=_("Disable selected tasks"), permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        """Disable the selected tasks."""
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(
        self, request: HttpRequest, queryset: QuerySet[PeriodicTask], *, enabled: bool
    ) -> None:
        selected = queryset.count()
        # update() skips auto_now, so set updated_at by hand to keep it truthful.
        changed = queryset.exclude(enabled=enabled).update(
            enabled=enabled, updated_at=timezone.now()
        )
        if enabled:
            message = ngettext("Enabled %(count)d task.", "Enabled %(count)d tasks.", changed)
        else:
            message = ngettext("Disabled %(count)d task.", "Disabled %(count)d tasks.", changed)
        message %= {"count": changed}
        if unchanged := selected - changed:
            message += " " + ngettext(
                "%(count)d was already so.", "%(count)d were already so.", unchanged
            ) % {"count": unchanged}
        self.message_user(request, message, messages.SUCCESS)
