"""What every batch writer shares: the runs whose task the backend takes, and their report."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autosched.enqueue import Batch

__all__ = ["announce", "validated"]


def validated(engine: Any, batch: Batch) -> list[tuple[int, Any]]:
    """Take the batch's pending runs; refuse those ``engine.validate_task`` refuses.

    Each task is validated once: most runs of a batch share one.
    """
    pending, batch.pending = batch.pending, []
    refusals: dict[int, Exception | None] = {}
    valid = []
    for number, task in pending:
        if id(task) not in refusals:
            try:
                engine.validate_task(task)
            except Exception as exc:
                refusals[id(task)] = exc
            else:
                refusals[id(task)] = None
        if (refusal := refusals[id(task)]) is not None:
            batch.refused(number, refusal)
        else:
            valid.append((number, task))
    return valid


def announce(
    signals: ModuleType,
    sender: type,
    batch: Batch,
    enqueued: Sequence[tuple[int, str, str, Callable[[], Any]]],
) -> None:
    """Report each (run, id, task path, its TaskResult) enqueued; send ``task_enqueued``."""
    signal = signals.task_enqueued
    own_log = getattr(signals, "log_task_enqueued", None)
    notify = signal.has_listeners(sender) and any(
        receiver is not own_log for receiver in _receivers(signal, sender)
    )
    log = signals.logger.isEnabledFor(logging.DEBUG) and not notify
    for number, result_id, path, task_result in enqueued:
        if notify:
            try:
                signal.send(sender, task_result=task_result())
            except Exception as exc:  # as the backend's enqueue would have raised
                batch.failed(number, exc)
                continue
        elif log:
            signals.logger.debug(
                "Task id=%s path=%s enqueued backend=%s", result_id, path, batch.backend
            )
        batch.enqueued(number, result_id)


def _receivers(signal: Any, sender: type) -> list[Any]:
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return [*sync_receivers, *async_receivers]
