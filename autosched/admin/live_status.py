"""Live status and Run now in the admin: a base class for ``PeriodicTaskAdmin``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from weakref import WeakKeyDictionary

import django
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
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from autosched.admin.cells import FIELDS, ICONS, Cells, render_cells
from autosched.humanize import duration_words, span_units
from autosched.models import PeriodicTask, RunRequest
from autosched.status import (
    banner,
    cache_is_local,
    outcome_words,
    read_runs,
    read_status,
    say_time,
)

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[PeriodicTask]
else:  # Django's classes are not subscriptable at run time without django-stubs-ext.
    _ModelAdmin = admin.ModelAdmin

#: The status columns: (cell field, column title).
STATUS_COLUMNS = (
    ("running", _("Running")),
    ("next_run", _("Next run")),
    ("last_run", _("Last run")),
    ("runs", _("Runs")),
)
#: The most tasks the status view answers for at once (a page of the list shows up to 200).
MAX_STATUS_TASKS = 500

# One cache read per request, however many rows and columns show the status.
_status_by_request: WeakKeyDictionary[HttpRequest, dict[str, Any]] = WeakKeyDictionary()


def request_status(request: HttpRequest) -> dict[str, Any]:
    """Return ``read_status()``, read once per request."""
    if request not in _status_by_request:
        _status_by_request[request] = read_status()
    return _status_by_request[request]


def shown_tasks(status: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], bool, str | None]:
    """Return the tasks' status to show, whether it is live, and, if not, when it was known."""
    if status["alive"]:
        return status["tasks"], True, None
    last = status.get("last_known")
    if last:
        return last.get("tasks") or {}, False, last.get("published_at")
    return {}, False, None


def banner_state(status: dict[str, Any]) -> str:
    """Return the banner's kind: alive, stale (last known shown), gone, unavailable or error."""
    if status.get("error"):
        return "error"
    if cache_is_local(status.get("cache")):
        return "unavailable"
    if status["alive"]:
        return "alive"
    return "stale" if status.get("last_known") else "gone"


class StatusCells:
    """The status cells of the rows of one page, rendered once per row."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.tasks, self.live, self.as_of = shown_tasks(status)
        self.now = datetime.now(UTC)
        self._cells: dict[int, Cells] = {}

    def of(self, task: PeriodicTask) -> Cells:
        """Return the cells of ``task``."""
        if task.pk not in self._cells:
            self._cells[task.pk] = render_cells(
                task, self.tasks.get(task.name), live=self.live, as_of=self.as_of, now=self.now
            )
        return self._cells[task.pk]

    def cell(self, task: PeriodicTask, field: str) -> SafeString:
        """Return one cell, tagged for ``status.js`` to refresh in place."""
        cells = self.of(task)
        return format_html(
            '<div class="autosched-cell{}" data-autosched-task="{}" data-autosched-id="{}" '
            'data-autosched-field="{}">{}</div>',
            " autosched-pending" if cells.pending and field == "next_run" else "",
            task.name,
            task.pk,
            field,
            getattr(cells, field),
        )


def _column(field: str, title: Any, cells: StatusCells) -> Callable[[PeriodicTask], SafeString]:
    @admin.display(description=title)
    def column(task: PeriodicTask) -> SafeString:
        return cells.cell(task, field)

    column.__name__ = f"status_{field}"
    return column


class LiveStatusAdmin(_ModelAdmin):
    """Show what the running scheduler reports, and let permitted users ask for a run now."""

    #: Seconds Run now waits for the scheduler to report the start before answering.
    run_now_wait = 2.0
    #: Milliseconds between two polls of the status view, and while an edit is being applied.
    poll_ms, fast_poll_ms = 2000, 250
    change_list_template = "admin/autosched/periodictask/change_list.html"
    change_form_template = "admin/autosched/periodictask/change_form.html"

    class Media:
        js = ("autosched/status.js",)
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("autosched/status.css",)}

    def status_columns(self, request: HttpRequest) -> list[Callable[[PeriodicTask], SafeString]]:
        """Return the status columns, bound to the status read for this request."""
        cells = StatusCells(request_status(request))
        return [_column(field, title, cells) for field, title in STATUS_COLUMNS]

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

    def _banner(self, request: HttpRequest, status: dict[str, Any]) -> str:
        # A cache's error text is for those who can act on it, not view-only staff.
        return banner(status, detail=self.has_change_permission(request))

    def _context(self, request: HttpRequest) -> dict[str, Any]:
        status = request_status(request)
        return {
            "autosched_banner": self._banner(request, status),
            "autosched_banner_state": banner_state(status),
            "autosched_alive": status["alive"],
            "autosched_status_url": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_status"
            ),
            "autosched_config": {
                "units": span_units(),
                "pollMs": self.poll_ms,
                "fastPollMs": self.fast_poll_ms,
                "unavailable": gettext("Live status unavailable (%(error)s)."),
                "now": datetime.now(UTC).isoformat(),
            },
            "has_run_permission": self.has_run_permission(request),
            # Django 5.2 floats the object tools up from the top of the content.
            "autosched_tools_in_content": django.VERSION < (6,),
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
        """Show the task with its live status, last error, recent runs and a Run now button."""
        context = self._context(request)
        task = self.get_object(request, unquote(object_id))
        if task is not None:
            context.update(self._task_context(request, task))
            if (problem := task.unreadable) and request.method == "GET":
                self.message_user(
                    request,
                    gettext(
                        "This row cannot be read: %(problem)s. The scheduler skips it; delete "
                        "it, or correct it in the database."
                    )
                    % {"problem": problem},
                    messages.ERROR,
                )
        context.update(extra_context or {})
        return super().change_view(request, object_id, form_url, context)

    def _task_context(self, request: HttpRequest, task: PeriodicTask) -> dict[str, Any]:
        cells = StatusCells(request_status(request))
        status = cells.tasks.get(task.name)
        runs = read_runs(task.name) if status is not None else None
        recent = [_run_row(run) for run in (runs or {}).get("runs", [])]
        worker_row = bool(status and status.get("run_on") == "worker")
        return {
            "autosched_task": {field: cells.cell(task, field) for field in FIELDS},
            "autosched_task_name": task.name,
            "autosched_schedule": task.schedule_display,
            "autosched_live": cells.live,
            "autosched_as_of": cells.as_of and say_time(cells.as_of),
            "autosched_status": status,
            # A worker row's recent runs are the scheduler's enqueues; its last error, the
            # worker's, has no traceback here (the worker's log has it).
            "autosched_traceback": None if worker_row else (runs or {}).get("traceback"),
            "autosched_recent_runs": recent,
            "autosched_worker_row": worker_row,
            "autosched_run_now_url": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_run_now",
                args=[task.pk],
            ),
        }

    def status_view(self, request: HttpRequest) -> JsonResponse:
        """Return the banner and the cells of the tasks asked for (``?ids=1,2``), as JSON.

        Only the tasks of the page shown are asked for and sent, however many rows there are.
        Staff with the view permission may read it.
        """
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        # An id is a number of at most 19 digits (a 64-bit key); anything else asks for nothing.
        parts = request.GET.get("ids", "").split(",")
        ids = [int(part) for part in parts if part.isascii() and part.isdigit() and len(part) < 20]
        tasks = list(PeriodicTask.objects.filter(pk__in=ids[:MAX_STATUS_TASKS]))
        # Only these tasks' status and reports are read: the cost is the page's, not all rows'.
        status = read_status(names=[task.name for task in tasks if isinstance(task.name, str)])
        cells = StatusCells(status)
        return JsonResponse(
            {
                "alive": status["alive"],
                "banner": self._banner(request, status),
                "state": banner_state(status),
                "now": cells.now.isoformat(),
                "tasks": {str(task.pk): cells.of(task).as_json() for task in tasks},
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
        if not self.has_view_or_change_permission(request):
            # The task's page would answer 403: the messages wait on the admin's index.
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:index"))
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

    def _say_names(self, request: HttpRequest, names: list[str]) -> str:
        """Return ``names`` to say, or only how many to a user who may not view the tasks.

        Ids are sequential: names in the answer would let such a user list every task.
        """
        if self.has_view_or_change_permission(request):
            return ", ".join(names)
        return ngettext("%(count)d task", "%(count)d tasks", len(names)) % {"count": len(names)}

    def request_runs(self, request: HttpRequest, tasks: Iterable[PeriodicTask]) -> None:
        """Queue a run request per task, and tell the user what became of it."""
        status = request_status(request)
        if banner_state(status) in ("unavailable", "error"):
            # Whether a scheduler runs cannot be seen from here: queue, and say only that.
            names = self._queue(request, list(tasks))
            self.message_user(
                request,
                gettext(
                    "Queued a run of %(names)s for the scheduler, which starts it within a "
                    "second if one runs. Live status is unavailable here, so whether it started "
                    "cannot be shown; the request expires after one minute."
                )
                % {"names": names},
                messages.INFO,
            )
            return
        if not status["alive"]:
            names = self._queue(request, list(tasks))
            self.message_user(
                request,
                gettext(
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
            elif _busy(reported[task.name]):
                busy.append(task.name)
            else:
                wanted.append(task)
        if unknown:
            self.message_user(
                request,
                gettext("Not loaded by the scheduler (see its warnings), so not run: %(names)s.")
                % {"names": self._say_names(request, unknown)},
                messages.ERROR,
            )
        if busy:
            self.message_user(
                request,
                gettext("Running now, so not started again (runs never overlap): %(names)s.")
                % {"names": self._say_names(request, busy)},
                messages.WARNING,
            )
        if wanted:
            self._queue(request, wanted)
            self._report_start(request, wanted, status)

    def _queue(self, request: HttpRequest, tasks: list[PeriodicTask]) -> str:
        user = request.user.get_username()
        RunRequest.objects.bulk_create(RunRequest(task=task, requested_by=user) for task in tasks)
        return self._say_names(request, [str(task) for task in tasks])

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
        say = self._say_names
        if not self.has_view_or_change_permission(request):
            # Nor where the scheduler runs: a user who may not view the tasks only runs them.
            self._report_unnamed(request, names, started)
            return
        scheduler = before["scheduler"]
        where = {"host": scheduler["host"], "pid": scheduler["pid"]}
        workers = {n for n in started if status["tasks"][n].get("run_on") == "worker"}
        if ran := [n for n in started if n not in workers]:
            message = gettext("Started on %(host)s (pid %(pid)s): %(names)s.")
            self.message_user(
                request, message % {**where, "names": say(request, ran)}, messages.SUCCESS
            )
        if enqueued := [n for n in started if n in workers]:
            message = gettext(
                "Enqueued for a worker by the scheduler on %(host)s (pid %(pid)s): %(names)s."
            )
            self.message_user(
                request, message % {**where, "names": say(request, enqueued)}, messages.SUCCESS
            )
        if waiting := [n for n in names if n not in started]:
            message = gettext(
                "Asked the scheduler on %(host)s (pid %(pid)s) to run %(names)s; it has not "
                "reported the start yet."
            )
            self.message_user(
                request, message % {**where, "names": say(request, waiting)}, messages.INFO
            )

    def _report_unnamed(self, request: HttpRequest, names: list[str], started: list[str]) -> None:
        if started:
            message = gettext("Started or enqueued by the scheduler: %(names)s.")
            self.message_user(
                request, message % {"names": self._say_names(request, started)}, messages.SUCCESS
            )
        if waiting := [n for n in names if n not in started]:
            message = gettext(
                "Asked the scheduler to run %(names)s; it has not reported the start yet."
            )
            self.message_user(
                request, message % {"names": self._say_names(request, waiting)}, messages.INFO
            )


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    """Return one of the recent runs, said for the task page."""
    outcome = run.get("outcome")
    state = {"ok": "ok", "error": "failing", "timeout": "failing"}.get(outcome or "", "cancelled")
    return {
        **run,
        "started_at": run.get("started_at") and say_time(run["started_at"]),
        "duration_text": duration_words(run.get("duration")),
        "outcome_text": outcome_words(outcome),
        "state": state,
        "icon": ICONS[state],
    }


def _busy(status: dict[str, Any]) -> bool:
    # A worker row's overlap rule is the enqueue's: a run going on a worker does not stop
    # the next enqueue (see the README).
    return bool(status.get("enqueuing") if status.get("run_on") == "worker" else status["running"])


def _started(status: dict[str, Any], before: dict[str, Any], name: str) -> bool:
    now, then = status["tasks"].get(name), before["tasks"].get(name)
    if not now or not then:
        return False
    if now.get("run_on") == "worker":  # the scheduler's part is the enqueue
        return bool(now.get("enqueue_count", 0) > then.get("enqueue_count", 0))
    return bool(now["running"]) or now["run_count"] > then["run_count"]
