"""The admin's status cells, in HTML: running, next run, last run, runs since start.

One place renders them, for the list, the task page and the JSON view that ``status.js``
polls, so a refreshed cell is exactly what the page showed. Times are ``<time>`` elements that
``status.js`` counts down (or up) between two polls; only the span inside them changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from autosched.humanize import duration_words, short_span, slot_parts
from autosched.models import PeriodicTask
from autosched.status import outcome_words, say_time, task_cells, task_state
from autosched.zones import DAY

__all__ = ["FIELDS", "ICONS", "Cells", "render_cells"]

#: The status cells, by the field name ``status.js`` knows them by.
FIELDS = ("running", "next_run", "last_run", "runs")
#: One icon per state, beside the words (never instead of them).
ICONS = {
    "ok": "✓",
    "failing": "✗",
    "running": "▶",
    "cancelled": "⊘",
    "never": "·",
    "unknown": "?",
}


def _html(template: str, **parts: Any) -> SafeString:
    """Fill a translated ``%(name)s`` template with HTML parts, escaping the template itself."""
    escaped = str(conditional_escape(template))
    return mark_safe(escaped % {key: conditional_escape(value) for key, value in parts.items()})


def _time(moment: datetime, relative: str, now: datetime) -> SafeString:
    """Return a ``<time>`` holding the span to or from ``moment``, for status.js to update."""
    seconds = (moment - now).total_seconds() if relative == "in" else (now - moment).total_seconds()
    return format_html(
        '<time datetime="{}" data-autosched-relative="{}" title="{}">{}</time>',
        moment.isoformat(),
        relative,
        say_time(moment),
        short_span(seconds),
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Cells:
    """One task's status cells, with what the list's colours and polling go by."""

    running: SafeString
    next_run: SafeString
    last_run: SafeString
    runs: SafeString
    #: "failing", "running", "never", "ok", "cancelled" or "unknown" (see ``task_state``).
    state: str
    #: The row says something the scheduler has not applied yet: poll soon.
    pending: bool

    def as_json(self) -> dict[str, Any]:
        """Return the cells for the JSON view."""
        return {
            "running": str(self.running),
            "next_run": str(self.next_run),
            "last_run": str(self.last_run),
            "runs": str(self.runs),
            "state": self.state,
            "pending": self.pending,
        }


def _applied(task: PeriodicTask, status: dict[str, Any]) -> bool:
    """Return whether the scheduler's task has the row's schedule (a saved edit is in effect)."""
    offset = status.get("offset_seconds")  # None: a task off the UTC grid (the bare core's)
    return (
        status.get("interval_seconds") == task.interval_seconds
        and offset in (None, task.effective_offset)
        and bool(status.get("enabled")) == bool(task.enabled)
    )


def _expected_next(task: PeriodicTask, status: dict[str, Any] | None, now: datetime) -> Any:
    """Return when the row's next run falls, as the scheduler will place it after an edit."""
    last_run = _parse(status.get("last_run")) if status else None
    try:
        return task.expected_next_run(now, last_run)
    except Exception:  # any: a row written around the checks costs only its own cell
        return None


def _next_run(
    task: PeriodicTask, status: dict[str, Any] | None, live: bool, now: datetime
) -> tuple[SafeString, bool]:
    if not task.enabled:
        return format_html('<span class="autosched-muted">{}</span>', gettext("disabled")), bool(
            live and status and status.get("enabled")
        )
    if live and status is None:
        return format_html(
            '<span class="autosched-warning" title="{}">{}</span>',
            gettext("The scheduler skips this task: see its warnings."),
            gettext("not loaded"),
        ), False
    next_run = _parse(status.get("next_run")) if status else None
    if live and status is not None and _applied(task, status) and next_run is not None:
        cell = _html(gettext("in %(span)s"), span=_time(next_run, "in", now))
        return _with_clock(cell, task, next_run), False
    expected = _expected_next(task, status, now)
    if expected is None:
        return SafeString(""), False
    pending = live and status is not None
    title = (
        gettext("The change is saved; the scheduler applies it within a second.")
        if pending
        else gettext("From the row: no scheduler reports this task now.")
    )
    cell = format_html(
        '<span class="autosched-expected" title="{}">{}</span>',
        title,
        _html(gettext("expected in %(span)s"), span=_time(expected, "in", now)),
    )
    return _with_clock(cell, task, expected), pending


def _with_clock(cell: SafeString, task: PeriodicTask, slot: datetime) -> SafeString:
    """Add a whole-day row's slot on its zone's clock, UTC beside it, under the countdown."""
    offset = task.effective_offset
    if offset is None or task.interval_seconds % DAY:
        return cell
    local, moved, utc = slot_parts(slot, offset, task.timezone)
    parts = [format_html('<span class="autosched-nowrap">{}</span>', part) for part in (local, utc)]
    if moved:
        parts[0] = format_html('{} <span class="autosched-moved">{}</span>', parts[0], moved)
    said = format_html("{}&nbsp;· {}", *parts) if local else parts[1]  # the dot ends a line
    return format_html('{}<div class="autosched-small autosched-clock">{}</div>', cell, said)


def _running(status: dict[str, Any], now: datetime) -> SafeString:
    if not status.get("running"):
        return SafeString("")
    started = _parse(status.get("last_run"))
    if started is None:
        started = now - timedelta(seconds=status.get("running_for") or 0)
    span = _time(started, "for", now)
    if status.get("overrun"):
        return format_html(
            '<span class="autosched-outcome autosched-failing">'
            '<span class="autosched-icon" aria-hidden="true">⚠</span> {}</span>',
            _html(gettext("overrunning its timeout, for %(span)s"), span=span),
        )
    return format_html(
        '<span class="autosched-outcome autosched-running">'
        '<span class="autosched-icon" aria-hidden="true">▶</span> {}</span>',
        _html(gettext("running for %(span)s"), span=span),
    )


def _outcome(status: dict[str, Any], state: str) -> SafeString:
    outcome = status.get("last_outcome")
    if not outcome:
        return SafeString("")
    known = {"ok": "ok", "error": "failing", "timeout": "failing", "cancelled": "cancelled"}
    shown = "failing" if outcome in ("error", "timeout") else state
    if shown in ("running", "never", "unknown") or not (
        isinstance(outcome, str) and outcome in known
    ):
        # One this version does not know gets the unknown icon, never the ok one.
        shown = known.get(outcome, "unknown")
    return format_html(
        '<span class="autosched-outcome autosched-{}"><span class="autosched-icon" '
        'aria-hidden="true">{}</span> {}</span>',
        shown,
        ICONS[shown],
        outcome_words(outcome),
    )


def _last_run(status: dict[str, Any], state: str, now: datetime) -> SafeString:
    last_run = _parse(status.get("last_run"))
    cells = task_cells(status, now)
    parts: list[SafeString] = []
    if last_run is None:
        parts.append(format_html('<span class="autosched-muted">{}</span>', gettext("never")))
    else:
        parts.extend(_when_and_outcome(status, state, last_run, now, cells["worker"]))
    if status.get("last_outcome") not in (None, "ok") and (error := status.get("last_error")):
        parts.append(format_html('<div class="autosched-error-text">{}</div>', error))
    if cells["enqueue"]:
        failed = " autosched-failing" if status.get("enqueue_outcome") == "error" else ""
        parts.append(
            format_html('<div class="autosched-small{}">{}</div>', failed, _enqueue(status, now))
        )
    return mark_safe("".join(parts))


def _enqueue(status: dict[str, Any], now: datetime) -> SafeString:
    """The scheduler's part of a worker row, as ``task_cells`` says it, its time counting up."""
    enqueued = _parse(status.get("last_enqueued"))
    when = _html(gettext("%(span)s ago"), span=_time(enqueued, "ago", now)) if enqueued else ""
    if status.get("enqueue_outcome") == "error":
        return _html(
            gettext("enqueue failed %(when)s: %(error)s"),
            when=when,
            error=status.get("enqueue_error") or "",
        )
    return _html(gettext("enqueued %(when)s"), when=when)


def _when_and_outcome(
    status: dict[str, Any], state: str, last_run: datetime, now: datetime, place: str
) -> list[SafeString]:
    when = _html(gettext("%(span)s ago"), span=_time(last_run, "ago", now))
    outcome = _outcome(status, state)
    if status.get("running"):
        parts = [_html(gettext("started %(when)s"), when=when)]
        if outcome:
            parts.append(
                format_html(
                    '<div class="autosched-small">{}</div>',
                    _html(gettext("previous run: %(outcome)s"), outcome=outcome),
                )
            )
        return parts
    line = format_html("{} {}", outcome, when) if outcome else when
    if duration := duration_words(status.get("last_duration")):
        line = format_html(
            '{} <span class="autosched-small autosched-duration">({})</span>', line, duration
        )
    if place:
        line = format_html('{} <span class="autosched-small">{}</span>', line, place)
    return [line]


def _runs(status: dict[str, Any]) -> SafeString:
    runs, errors = status.get("run_count", 0), status.get("error_count", 0)
    if not errors:
        return format_html("{}", runs)
    failed = ngettext("(%(errors)d failed)", "(%(errors)d failed)", errors) % {"errors": errors}
    return format_html('{} <span class="autosched-failing-text">{}</span>', runs, failed)


def render_cells(
    task: PeriodicTask,
    status: dict[str, Any] | None,
    *,
    live: bool,
    as_of: str | None = None,
    now: datetime,
) -> Cells:
    """Return ``task``'s cells from its reported ``status`` (None: none).

    ``live``: a scheduler reports now; else ``status`` is the last known one, published at
    ``as_of`` (greyed), or None. The next run then comes from the row, marked *expected*.
    """
    next_run, pending = _next_run(task, status, live, now)
    state = task_state(status)
    if status is None:
        empty = SafeString("")
        return Cells(empty, next_run, empty, empty, state, pending)
    running, last_run, runs = _running(status, now), _last_run(status, state, now), _runs(status)
    if not live:
        title = gettext("As of %(time)s") % {"time": say_time(as_of)} if as_of else ""
        running, last_run, runs = (
            format_html('<span class="autosched-stale" title="{}">{}</span>', title, cell)
            if cell
            else cell
            for cell in (running, last_run, runs)
        )
    return Cells(running, next_run, last_run, runs, state, pending)
