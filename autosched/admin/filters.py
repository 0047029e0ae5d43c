"""The list's filters: by whether the function is registered, and by the last outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from autosched.admin.live_status import request_status, shown_tasks
from autosched.models import PeriodicTask
from autosched.registry import registry
from autosched.status import task_state

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise

__all__ = ["OutcomeFilter", "RegisteredFilter"]


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


class OutcomeFilter(admin.SimpleListFilter):
    """Filter tasks by what the scheduler reports: failing, running, never ran.

    It goes by the live status, or the last known one when no scheduler reports; a task the
    scheduler does not report is in none of them.
    """

    title = _("outcome")
    parameter_name = "outcome"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, _StrOrPromise]]:
        return [("failing", _("Failing")), ("running", _("Running")), ("never", _("Never ran"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[PeriodicTask]
    ) -> QuerySet[PeriodicTask]:
        wanted = self.value()
        if wanted not in ("failing", "running", "never"):
            return queryset
        tasks, _live, _as_of = shown_tasks(request_status(request))
        names = [name for name, status in tasks.items() if task_state(status) == wanted]
        return queryset.filter(name__in=names)
