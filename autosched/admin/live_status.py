"""Live status and Run now in the admin: a base class for ``PeriodicTaskAdmin``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from weakref import WeakKeyDictionary

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.http.response import HttpResponseBase, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from autosched.models import PeriodicTask, RunRequest
from autosched.status import banner, read_status, task_cells

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[PeriodicTask]
else:  # Django's classes are not subscriptable at run time without django-stubs-ext.
    _ModelAdmin = admin.ModelAdmin

#: The status columns: (cell key, column title).
STATUS_COLUMNS = (
    ("running", _("running now")),
    ("next_run", _("next run")),
    ("last_run", _("last run")),
    ("outcome", _("last outcome")),
    ("runs", _("runs since start")),
)

# One cache read per request, however many rows and columns show the status.
_status_by_request: WeakKeyDictionary[HttpRequest, dict[str, Any]] = WeakKeyDictionary()


def request_status(request: HttpRequest) -> dict[str, Any]:
    """Return ``read_status()``, read once per request."""
    if request not in _status_by_request:
        _status_by_request[request] = read_status()
    return _status_by_request[request]


def status_cell(task: PeriodicTask, key: str, status: dict[str, Any], now: datetime) -> SafeString:
    """Render one status cell, tagged for ``status.js`` to refresh in place."""
    cells = task_cells(status["tasks"].get(task.name), now)
    return format_html(
        '<span data-autosched-task="{}" data-autosched-field="{}"{}>{}</span>',
        task.name,
        key,
        format_html(' title="{}"', cells["error"]) if key == "outcome" and cells["error"] else "",
        cells[key],
    )


def _column(key: str, title: Any, status: dict[str, Any]) -> Callable[[PeriodicTask], SafeString]:
    now = datetime.now(UTC)

    @admin.display(description=title)
    def column(task: PeriodicTask) -> SafeString:
        return status_cell(task, key, status, now)

    column.__name__ = f"status_{key}"
    return column


class LiveStatusAdmin(_ModelAdmin):
    """Show what the running scheduler reports, and let permitted users ask for a run now."""

    #: Seconds Run now waits for the scheduler to report the start before answering.
    run_now_wait = 2.0
    change_list_template = "admin/autosched/periodictask/change_list.html"
    change_form_template = "admin/autosched/periodictask/change_form.html"

    class Media:
        js = ("autosched/status.js",)
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("autosched/status.css",)}

    def get_list_display(
        self, request: HttpRequest
    ) -> list[str | Callable[[PeriodicTask], str | bool]]:
        """Add the status columns, bound to the status read for this request."""
        status = request_status(request)
        columns = [_column(key, title, status) for key, title in STATUS_COLUMNS]
        return [*super().get_list_display(request), *columns]

    def get_urls(self) -> list[URLPattern]:
        """Add the status JSON view and the Run now view, before the catch-all change URL."""
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "status/",
                self.admin_site.admin_view(self.status_view),
                name="{}_{}_status".format(*info),
            ),
            path(
                "<path:object_id>/run-now/",
                self.admin_site.admin_view(self.run_now_view),
                name="{}_{}_run_now".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_run_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may ask for a run now (superusers may)."""
        return request.user.has_perm(f"{self.opts.app_label}.run_{self.opts.model_name}")

    def _context(self, request: HttpRequest) -> dict[str, Any]:
        status = request_status(request)
        return {
            "autosched_banner": banner(status),
            "autosched_alive": status["alive"],
            "autosched_status_url": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_status"
            ),
            "has_run_permission": self.has_run_permission(request),
        }

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Show the list with the scheduler banner."""
        return super().changelist_view(request, {**self._context(request), **(extra_context or {})})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Show the task with its live status, last error and a Run now button."""
        context = self._context(request)
        task = self.get_object(request, unquote(object_id))
        if task is not None:
            status = request_status(request)["tasks"].get(task.name)
            context["autosched_task"] = task_cells(status)
            context["autosched_task_name"] = task.name
            context["autosched_counts"] = status and {
                key: status[key] for key in ("run_count", "error_count", "skip_count")
            }
            context["autosched_run_now_url"] = reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_run_now",
                args=[task.pk],
            )
        context.update(extra_context or {})
        return super().change_view(request, object_id, form_url, context)

    def status_view(self, request: HttpRequest) -> JsonResponse:
        """Return the live status as JSON for ``status.js`` (staff with view permission)."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        status = read_status()
        now = datetime.now(UTC)
        return JsonResponse(
            {
                "alive": status["alive"],
                "banner": banner(status),
                "tasks": {name: task_cells(s, now) for name, s in status["tasks"].items()},
            }
        )

    def run_now_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """Ask the scheduler to run one task now (POST only; CSRF-checked by ``admin_view``)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_run_permission(request):
            raise PermissionDenied
        task = self.get_object(request, unquote(object_id))
        if task is None:
            raise Http404(f"No periodic task with id {object_id!r}.")
        self.request_runs(request, [task])
        return HttpResponseRedirect(
            reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[task.pk],
            )
        )

    @admin.action(description=_("Run selected tasks now"), permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        """Ask the scheduler to run the selected tasks now."""
        self.request_runs(request, queryset)

    def request_runs(self, request: HttpRequest, tasks: Iterable[PeriodicTask]) -> None:
        """Queue a run request per task, and tell the user what became of it."""
        status = request_status(request)
        if not status["alive"]:
            names = self._queue(request, list(tasks))
            self.message_user(
                request,
                _(
                    "No scheduler has reported in the last %(ttl)s s, so nothing runs "
                    "%(names)s now. The request waits one minute for a scheduler to start "
                    "(manage.py runscheduler), then expires."
                )
                % {"ttl": f"{status['ttl']:g}", "names": names},
                messages.WARNING,
            )
            return
        reported = status["tasks"]
        wanted, busy, unknown = [], [], []
        for task in tasks:
            if task.name not in reported:
                unknown.append(task.name)
            elif reported[task.name]["running"]:
                busy.append(task.name)
            else:
                wanted.append(task)
        if unknown:
            self.message_user(
                request,
                _("Not loaded by the scheduler (see its warnings), so not run: %s.")
                % ", ".join(unknown),
                messages.ERROR,
            )
        if busy:
            self.message_user(
                request,
                _("Running now, so not started again (runs never overlap): %s.") % ", ".join(busy),
                messages.WARNING,
            )
        if wanted:
            self._queue(request, wanted)
            self._report_start(request, wanted, status)

    def _queue(self, request: HttpRequest, tasks: list[PeriodicTask]) -> str:
        user = request.user.get_username()
        RunRequest.objects.bulk_create(RunRequest(task=task, requested_by=user) for task in tasks)
        return ", ".join(task.name for task in tasks)

    def _report_start(
        self, request: HttpRequest, tasks: list[PeriodicTask], before: dict[str, Any]
    ) -> None:
        # Wait briefly for the scheduler to report the runs, so that the message is true and
        # the page that follows shows them (it claims within a second, publishes in 0.2 s).
        names = [task.name for task in tasks]
        deadline = time.monotonic() + self.run_now_wait
        while True:
            status = read_status()
            started = [n for n in names if _started(status, before, n)]
            if len(started) == len(names) or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        scheduler = before["scheduler"]
        where = {"host": scheduler["host"], "pid": scheduler["pid"]}
        if started:
            message = _("Started on %(host)s (pid %(pid)s): %(names)s.")
            self.message_user(
                request, message % {**where, "names": ", ".join(started)}, messages.SUCCESS
            )
        if waiting := [n for n in names if n not in started]:
            message = _(
                "Asked the scheduler on %(host)s (pid %(pid)s) to run %(names)s; it has not "
                "reported the start yet."
            )
            self.message_user(
                request, message % {**where, "names": ", ".join(waiting)}, messages.INFO
            )


def _started(status: dict[str, Any], before: dict[str, Any], name: str) -> bool:
    now, then = status["tasks"].get(name), before["tasks"].get(name)
    if not now or not then:
        return False
    return bool(now["running"]) or now["run_count"] > then["run_count"]
