"""Keep a ``Scheduler`` in step with the ``PeriodicTask`` rows, reading only what changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from django.db import connections

from autosched.models import PeriodicTask, RunOn, ScheduleRevision, TaskChange
from autosched.models.db_clock import db_now_plus
from autosched.models.fields import Unreadable
from autosched.registry import KwargsError, RegisteredFunction, registry
from autosched.runner.bulk import EnqueueBatcher
from autosched.runner.calls import enqueuer, in_process
from autosched.runner.collector import collector_paused
from autosched.schedule import effective_offset
from autosched.scheduler import Scheduler
from autosched.scheduler.errors import describe
from autosched.worker import DEFAULT_BACKEND, DEFAULT_QUEUE
from autosched.zones import ZoneError, check_zone

logger = logging.getLogger("autosched")

#: Backends whose migration installed the change-logging triggers; others reload every sync.
TRIGGER_VENDORS = frozenset({"sqlite", "postgresql", "mysql"})
#: More changed rows than this in one poll are read by a full reload instead.
MAX_CHANGES_PER_POLL = 1000
#: How long change records are kept; a syncer that falls further behind reloads everything.
CHANGE_RETENTION = timedelta(hours=1)
#: Seconds between two prunings of old change records.
PRUNE_EVERY = 60.0
#: Longest stretch ``apply_in_slices`` holds the event loop, in seconds.
APPLY_SLICE = 0.010
#: Rows applied between two looks at the time (a look costs more than a row left alone).
STEP_ROWS = 32

ROW_FIELDS = (
    "id",
    "name",
    "function",
    "interval_seconds",
    "enabled",
    "run_on",
    "tasks_backend",
    "queue_name",
    "priority",
    "offset_seconds",
    "timeout_seconds",
    "kwargs",
    "timezone",
)


class Row(NamedTuple):
    """The columns of a ``PeriodicTask`` row that the scheduler needs."""

    id: int
    name: str
    function: str
    interval_seconds: int
    enabled: bool
    run_on: str = RunOn.PROCESS
    tasks_backend: str = DEFAULT_BACKEND
    queue_name: str = DEFAULT_QUEUE
    priority: int = 0
    offset_seconds: int | None = None
    timeout_seconds: int | None = None
    kwargs: Any = None  # a JSON value: a dict when the row is sound
    timezone: str = ""  # blank: UTC

    def callable_key(self) -> tuple[object, ...]:
        """Return what the task's callable is built from: a change means a new callable."""
        return (
            self.function,
            self.run_on,
            self.tasks_backend,
            self.queue_name,
            self.priority,
            self.kwargs,
            # A worker reports a run past its timeout as overrunning: the enqueue says it.
            self.timeout_seconds if self.run_on == RunOn.WORKER else None,
        )

    def unreadable(self) -> str | None:
        """Return why the row, written around the checks, cannot be used as read; else None."""
        if isinstance(self.kwargs, Unreadable):
            return f"its row cannot be read: {self.kwargs.reason}"
        if not isinstance(self.name, str):
            return f"its name is not text but {type(self.name).__name__}"
        if not isinstance(self.function, str):
            return f"its function is not text but {type(self.function).__name__}"
        return None

    def offset(self) -> int | None:
        """Return the offset the scheduler uses: the row's own, or the spread one."""
        if isinstance(self.interval_seconds, int) and self.interval_seconds >= 1:
            return effective_offset(self.name, self.interval_seconds, self.offset_seconds)
        return self.offset_seconds  # the scheduler refuses the interval and names it


@dataclass(frozen=True)
class Changes:
    """Rows read by one sync: the changed ones, or every row when ``full``."""

    rows: dict[int, Row] = field(default_factory=dict)
    deleted: frozenset[int] = frozenset()
    full: bool = False

    def __bool__(self) -> bool:
        return self.full or bool(self.rows) or bool(self.deleted)


class TaskSync:
    """Read ``PeriodicTask`` changes from the database and apply them to a ``Scheduler``."""

    def __init__(
        self,
        using: str = "default",
        *,
        clock: Callable[[], float] = time.monotonic,
        batcher: EnqueueBatcher | None = None,
    ):
        self.using = using
        #: Where worker rows' runs are enqueued, in batches.
        self.batcher = batcher if batcher is not None else EnqueueBatcher()
        #: Highest change revision read so far; None until the first full load.
        self.revision: int | None = None
        #: Rows applied so far that changed the scheduler's tasks (a row read again as it
        #: was changes nothing and is not counted).
        self.changes_applied = 0
        self._clock = clock
        self._next_prune = clock()
        self._applied: dict[int, Row] = {}  # rows the scheduler holds a task for
        self._skipped: dict[int, Row] = {}  # rows left out, each warned about once
        # One wrapper per function, shared by its rows: wrapping costs more than adding a task.
        self._wrapped: dict[str, Callable[[], Any]] = {}

    @property
    def skipped(self) -> dict[int, Row]:
        """Return the rows left out of the scheduler (unregistered function or bad value)."""
        return dict(self._skipped)

    def worker_names(self) -> dict[str, int]:
        """Return ``{name: pk}`` of the rows applied that run on a worker (from any thread)."""
        while True:
            try:
                rows = list(self._applied.values())  # the loop thread may change the dict
            except RuntimeError:  # changed size while copied: copy again
                continue
            return {row.name: row.id for row in rows if row.run_on == RunOn.WORKER}

    def rows(self) -> list[Row]:
        """Return the rows the scheduler holds a task for (callable from any thread)."""
        while True:
            try:
                return list(self._applied.values())  # the loop thread may change the dict
            except RuntimeError:  # changed size while copied: copy again
                continue

    # Reading (blocking: call these off the event loop) -------------------------------------

    def load_all(self) -> dict[int, Row]:
        """Read every row, remembering the revision they are at least as new as."""
        # The revision is read before the rows: a change committed in between is then both
        # in the rows and above the revision, and is merely applied twice, never missed.
        self.revision = self._current_revision()
        with collector_paused():
            return self._read_rows(None)

    def reload(self) -> Changes:
        """Read every row as a full set of changes."""
        return Changes(rows=self.load_all(), full=True)

    def poll(self) -> Changes:
        """Read the rows changed since the last sync, with one indexed query when idle."""
        vendor = connections[self.using].vendor
        if self.revision is None or vendor not in TRIGGER_VENDORS:
            return self.reload()
        self._prune_if_due()
        current, log = self._changes_since(self.revision)
        if current == self.revision:
            return Changes()
        # Committed revisions have no gaps (see the 0002 migration), so a log that does not
        # continue from ours means pruned history or a reset counter: read everything.
        if not log or log[0][0] != self.revision + 1 or len(log) > MAX_CHANGES_PER_POLL:
            return self.reload()
        ids = {task_id for _, task_id in log}
        rows = self._read_rows(ids)
        self.revision = log[-1][0]
        return Changes(rows=rows, deleted=frozenset(ids - rows.keys()))

    def _read_rows(self, ids: Collection[int] | None) -> dict[int, Row]:
        """Read the rows ``ids`` (None: all) in one query; one the driver chokes on, alone.

        A value the ORM cannot convert is read as ``Unreadable`` (see ``KwargsField``), but
        one the driver itself cannot decode (say text that is not UTF-8 on SQLite) raises
        while the query iterates, ending the read of every row. Then the ids are read, and the
        rows in halves, down to the bad ones: one bad row costs a few queries, not the rest.
        """
        queryset = PeriodicTask.objects.using(self.using).order_by()
        if ids is not None:
            queryset = queryset.filter(id__in=ids)
        try:
            return {row[0]: Row._make(row) for row in queryset.values_list(*ROW_FIELDS)}
        except Exception as exc:
            # Reading the ids raises too when the database, not a row, is the trouble.
            found = list(queryset.values_list("id", flat=True))
            return self._read_halves(found, exc)

    def _read_halves(self, ids: list[int], error: Exception) -> dict[int, Row]:
        if len(ids) == 1:
            # Asked again, so that a database gone meanwhile is not taken for a bad row.
            self._current_revision()
            logger.debug("Row %d cannot be read: %s", ids[0], describe(error))
            return {ids[0]: _unreadable_row(ids[0], error)}
        rows: dict[int, Row] = {}
        middle = len(ids) // 2
        for part in (ids[:middle], ids[middle:]):
            queryset = PeriodicTask.objects.using(self.using).filter(id__in=part).order_by()
            try:
                rows.update((row[0], Row._make(row)) for row in queryset.values_list(*ROW_FIELDS))
            except Exception as exc:
                rows.update(self._read_halves(part, exc))
        return rows

    def _current_revision(self) -> int:
        counter = ScheduleRevision.objects.using(self.using).filter(id=1)
        revision = counter.values_list("revision", flat=True).first()
        return revision or 0

    def _changes_since(self, revision: int) -> tuple[int, list[tuple[int, int]]]:
        connection = connections[self.using]
        quote = connection.ops.quote_name
        counter, log = quote(ScheduleRevision._meta.db_table), quote(TaskChange._meta.db_table)
        # One statement reads the counter and the log together, so both come from one
        # snapshot; the counter reveals changes even when their log rows were pruned.
        sql = (
            f"SELECT r.revision, c.revision, c.task_id FROM {counter} r "
            f"LEFT JOIN {log} c ON c.revision > %s WHERE r.id = 1 "
            "ORDER BY c.revision LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [revision, MAX_CHANGES_PER_POLL + 1])
            result = cursor.fetchall()
        if not result:
            return 0, []
        return result[0][0], [(rev, task_id) for _, rev, task_id in result if rev is not None]

    def _prune_if_due(self) -> None:
        now = self._clock()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        # By the database's clock, which stamped changed_at: with USE_TZ = False this host's
        # local time would be compared with the database's UTC.
        cutoff = db_now_plus(-CHANGE_RETENTION.total_seconds())
        TaskChange.objects.using(self.using).filter(changed_at__lt=cutoff).delete()

    # Applying (non-blocking: safe on the event loop) ---------------------------------------

    def apply(self, scheduler: Scheduler, changes: Changes) -> None:
        """Add, remove, enable, disable or retime scheduler tasks to match ``changes``."""
        for _ in self._steps(scheduler, changes):
            pass

    async def apply_in_slices(
        self, scheduler: Scheduler, changes: Changes, *, slice_seconds: float = APPLY_SLICE
    ) -> None:
        """Apply ``changes`` like ``apply()``, letting the loop run every ``slice_seconds``.

        A full reload of 100,000 rows takes a good part of a second: in slices, timers and
        runs due meanwhile start on time. Do not start another apply before this one ends.
        """
        clock = time.perf_counter
        deadline = clock() + slice_seconds
        with collector_paused() if changes.full else contextlib.nullcontext():
            for _ in self._steps(scheduler, changes):
                if clock() >= deadline:
                    await asyncio.sleep(0)
                    deadline = clock() + slice_seconds

    def _steps(self, scheduler: Scheduler, changes: Changes) -> Iterator[None]:
        # One step per few rows: where apply_in_slices may let the loop run.
        level = logging.DEBUG if changes.full else logging.INFO
        gone = set(changes.deleted)
        if changes.full:
            gone |= self._applied.keys() - changes.rows.keys()
            gone |= self._skipped.keys() - changes.rows.keys()
        yield
        # Remove first, so a name freed by a rename or delete can be taken in the same batch.
        for number, task_id in enumerate(gone | changes.rows.keys()):
            self._take_out(scheduler, task_id, changes.rows.get(task_id), level)
            if not number % STEP_ROWS:
                yield
        for number, row in enumerate(changes.rows.values()):
            try:
                self._put_in(scheduler, row, level)
            except Exception as exc:  # any: a row that breaks this costs only itself
                self._skip(scheduler, row, "%s", describe(exc))
            if not number % STEP_ROWS:
                yield
        if changes.full:
            logger.debug(
                "Synced %d periodic tasks (%d skipped)", len(self._applied), len(self._skipped)
            )

    def _take_out(self, scheduler: Scheduler, task_id: int, new: Row | None, level: int) -> None:
        if new is None:
            self._skipped.pop(task_id, None)
        old = self._applied.get(task_id)
        if old is None or (new is not None and new.name == old.name):
            return  # changed in place by _put_in, keeping its run state
        del self._applied[task_id]
        self.changes_applied += 1
        if old.name in scheduler.tasks:
            scheduler.remove_task(old.name)
            logger.log(level, "Removed task %r", old.name)

    def _put_in(self, scheduler: Scheduler, row: Row, level: int) -> None:
        # A row as it was when last applied needs nothing (a full reload after an outage
        # reads 100,000 such rows): the registry does not change while running. A skipped
        # one is tried again: the name it clashed with may be free now.
        if self._applied.get(row.id) == row and row.name in scheduler.tasks:
            return
        self.changes_applied += 1
        if problem := row.unreadable():
            self._skip(scheduler, row, "%s", problem)
            return
        registered = registry.get(row.function)
        if registered is None:
            self._skip(scheduler, row, "its function %r is not registered", row.function)
            return
        if row.run_on not in RunOn.values:
            self._skip(scheduler, row, "run_on is %r, neither 'process' nor 'worker'", row.run_on)
            return
        try:
            registered.check_kwargs(row.kwargs)
        except KwargsError as exc:
            self._skip(scheduler, row, "its keyword arguments do not fit %s: %s", row.function, exc)
            return
        try:
            check_zone(row.timezone, row.interval_seconds)
        except ZoneError as exc:
            self._skip(scheduler, row, "%s", exc)
            return
        old = self._applied.get(row.id)
        try:
            if old is not None and row.name in scheduler.tasks:
                self._update(scheduler, old, row, registered, level)
            else:
                scheduler.add_task(
                    row.name,
                    self._callable(row, registered),
                    row.interval_seconds,
                    enabled=row.enabled,
                    offset=row.offset(),
                    timeout=self._timeout(row),
                    timezone=row.timezone or None,
                )
                if logger.isEnabledFor(level):
                    logger.log(level, "Added task %r (%s)", row.name, _describe(row))
        except (ValueError, LookupError) as exc:
            # A value the model allows but the scheduler rejects (say an interval of 0 set by
            # raw SQL).
            self._skip(scheduler, row, "%s", exc)
            return
        self._applied[row.id] = row
        self._skipped.pop(row.id, None)

    @staticmethod
    def _timeout(row: Row) -> int | None:
        # A worker row's timeout is the engine's to enforce; the scheduler only enqueues.
        return row.timeout_seconds if row.run_on == RunOn.PROCESS else None

    def _callable(self, row: Row, registered: RegisteredFunction) -> Callable[[], Any]:
        if row.run_on == RunOn.WORKER:
            return enqueuer(
                row.function,
                row.name,
                backend=row.tasks_backend,
                queue_name=row.queue_name,
                priority=row.priority,
                kwargs=row.kwargs,
                batcher=self.batcher,
                row_id=row.id,
                timeout=row.timeout_seconds,
            )
        if row.kwargs or registered.takes_slot:
            return in_process(registered, row.kwargs)
        wrapped = self._wrapped.get(row.function)
        if wrapped is None:
            wrapped = self._wrapped[row.function] = in_process(registered, {})
        return wrapped

    def _update(
        self, scheduler: Scheduler, old: Row, row: Row, registered: RegisteredFunction, level: int
    ) -> None:
        task = scheduler.tasks[row.name]
        offset, zone = row.offset(), row.timezone or None
        if (task.interval_seconds, task.offset_seconds, task.timezone) != (
            row.interval_seconds,
            offset,
            zone,
        ):
            scheduler.update_task_interval(
                row.name, row.interval_seconds, offset=offset, timezone=zone
            )
            logger.log(level, "Retimed task %r to %s", row.name, _schedule(row))
        if task.timeout_seconds != self._timeout(row):
            scheduler.update_task_timeout(row.name, self._timeout(row))
        if old.callable_key() != row.callable_key():
            scheduler.update_task_func(row.name, self._callable(row, registered))
            logger.log(level, "Changed what task %r runs (%s)", row.name, _describe(row))
        if task.enabled != row.enabled:
            if row.enabled:
                scheduler.enable_task(row.name)
            else:
                scheduler.disable_task(row.name)
            logger.log(level, "%s task %r", "Enabled" if row.enabled else "Disabled", row.name)

    def _skip(self, scheduler: Scheduler, row: Row, reason: str, *args: object) -> None:
        # Stop running the row's old version rather than keep it silently.
        if self._applied.pop(row.id, None) and row.name in scheduler.tasks:
            scheduler.remove_task(row.name)
        # Warn once per row version: again only after the row itself changes.
        if self._skipped.get(row.id) != row:
            if row.unreadable() is None:
                logger.warning("Skipping periodic task %r: " + reason, row.name, *args)
            else:  # its name may not be text, or not read at all: the id says which row
                name = repr(row.name) if row.name != "" else "unread"
                logger.warning("Skipping periodic task #%d (%s): " + reason, row.id, name, *args)
        self._skipped[row.id] = row


def _unreadable_row(task_id: int, error: Exception) -> Row:
    """Return a stand-in for row ``task_id``, which the database driver cannot read."""
    return Row(task_id, "", "", 0, False, kwargs=Unreadable(describe(error)))


def _schedule(row: Row) -> str:
    offset = "spread" if row.offset_seconds is None else str(row.offset_seconds)
    zone = f" in {row.timezone}" if row.timezone else ""
    return f"every {row.interval_seconds} s, offset {row.offset()} s ({offset}){zone}"


def _describe(row: Row) -> str:
    state = "enabled" if row.enabled else "disabled"
    where = ""
    if row.run_on == RunOn.WORKER:
        where = f", enqueued to {row.tasks_backend}/{row.queue_name}"
    arguments = f", kwargs {row.kwargs}" if row.kwargs else ""
    return f"{row.function}, {_schedule(row)}, {state}{where}{arguments}"
