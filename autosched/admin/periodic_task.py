"""The periodic task admin: operators enable, disable and retime tasks here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from autosched.admin.filters import OutcomeFilter, RegisteredFilter
from autosched.admin.live_status import LiveStatusAdmin
from autosched.durations import format_interval
from autosched.forms import IntervalField, PeriodicTaskForm, ScheduleInput
from autosched.models import PeriodicTask, RunOn
from autosched.models.fields import Unreadable

if TYPE_CHECKING:
    from django.db.models import Field


def breakable(text: str) -> SafeString:
    """Escape ``text``, letting a narrow column break it after its dots and underscores."""
    return SafeString(re.sub(r"([._])", r"\1<wbr>", str(escape(text))))


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(LiveStatusAdmin):
    """List, edit, enable and disable periodic tasks."""

    form = PeriodicTaskForm
    # The status columns follow, bound to the status read for each request; the interval's
    # column is titled "Schedule" (see change_list_results.html) and holds the words too.
    list_display = ("task_display", "interval_seconds", "enabled")
    list_display_links = None  # the task cell links its name, not its function's small text
    list_editable = ("interval_seconds", "enabled")
    list_filter = (OutcomeFilter, "enabled", RegisteredFilter, "function")
    search_fields = ("name", "function", "description")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "function",
                    "interval_seconds",
                    "offset_seconds",
                    "timezone",
                    "enabled",
                )
            },
        ),
        (_("How it runs"), {"fields": ("kwargs", "timeout_seconds")}),
        (_("Where it runs"), {"fields": ("run_on", "tasks_backend", "queue_name", "priority")}),
        (_("Notes"), {"fields": ("description", "created_at", "updated_at")}),
    )
    actions = ("enable_tasks", "disable_tasks", "run_now")

    def get_list_display(self, request: HttpRequest) -> list[str | Callable[[Any], Any]]:
        """Add the status columns; the schedule in words for those who cannot edit it."""
        columns: list[str | Callable[[Any], Any]] = list(super().get_list_display(request))
        if not self.has_change_permission(request):
            columns = [self.schedule if c == "interval_seconds" else c for c in columns]
        return [*columns, *self.status_columns(request)]

    def get_changelist_form(
        self, request: HttpRequest, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        """Show each row's schedule in words under its editable interval."""
        base = super().get_changelist_form(request, **kwargs)

        class ChangelistForm(base):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                if "interval_seconds" in self.fields:
                    self.fields["interval_seconds"].widget = ScheduleInput(
                        words=self.instance.schedule_display
                    )

        return ChangelistForm

    def formfield_for_dbfield(
        self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        """Take the interval in words in the list too ("15m"), within its limits."""
        if db_field.name == "interval_seconds":
            return IntervalField(label=_("Interval"))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        """Refuse changes to a row that cannot be read: it can be viewed and deleted."""
        if obj is not None and obj.unreadable:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description=_("Task"), ordering="name")
    def task_display(self, task: PeriodicTask) -> SafeString:
        """Show the name, linked; the function in small text when it differs; kwargs; where."""
        url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[quote(task.pk)],
        )
        parts = [
            format_html('<a href="{}" class="autosched-name">{}</a>', url, breakable(str(task)))
        ]
        if task.function != task.name:
            dotted = breakable(str(task.function))
            parts.append(format_html('<div class="autosched-function">{}</div>', dotted))
        if problem := task.unreadable:
            parts.append(
                format_html(
                    '<div class="autosched-warning autosched-unreadable" title="{}">⚠ {}</div>'
                    '<div class="autosched-small autosched-error-text" title="{}">{}</div>',
                    gettext(
                        "This row was written around the checks and cannot be read: the "
                        "scheduler skips it. Delete it, or correct it in the database."
                    ),
                    gettext("unreadable"),
                    problem,
                    problem,
                )
            )
        if task.kwargs and not isinstance(task.kwargs, Unreadable):
            parts.append(
                format_html(
                    '<div class="autosched-small autosched-kwargs">{}</div>',
                    task.short_kwargs_display(),
                )
            )
        if not task.is_registered:
            parts.append(
                format_html(
                    '<div class="autosched-warning" title="{}">⚠ {}</div>',
                    gettext("No registered function has this name: the scheduler skips this task."),
                    gettext("not registered"),
                )
            )
        if task.run_on == RunOn.WORKER:
            parts.append(
                format_html(
                    '<div class="autosched-small">{}</div>',
                    gettext("worker: %(backend)s / %(queue)s (priority %(priority)s)")
                    % {
                        "backend": task.tasks_backend,
                        "queue": task.queue_name,
                        "priority": task.priority,
                    },
                )
            )
        return format_html("{}", SafeString("".join(parts)))

    @admin.display(description=_("Schedule"), ordering="interval_seconds")
    def schedule(self, task: PeriodicTask) -> SafeString:
        """Show the schedule in words, and the interval as it is typed: "every hour (1h)"."""
        if not isinstance(task.interval_seconds, int) or task.interval_seconds < 1:
            return format_html("{}", task.interval_seconds)
        return format_html(
            '{} <span class="autosched-small">({})</span>',
            task.schedule_display,
            format_interval(task.interval_seconds),
        )

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
