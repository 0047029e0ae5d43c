"""Run now: the admin writes a ``RunRequest`` row; the active scheduler claims and runs it.

Requests go through the database rather than the cache so that they reach a scheduler in
another process or on another host whatever cache is configured. A request is claimed by one
``UPDATE … WHERE claimed_at IS NULL``, so two schedulers never both run it. One that no
scheduler claims within ``REQUEST_TTL`` is expired (deleted) rather than run late.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import models
from django.utils.translation import gettext_lazy as _

from autosched.models.db_clock import db_now, db_now_plus

__all__ = ["REQUEST_TTL", "Claim", "RunRequest", "claim_requests"]

logger = logging.getLogger("autosched")

#: How long a request waits for a scheduler before it expires.
REQUEST_TTL = timedelta(minutes=1)
#: How long claimed requests are kept, so an operator can see who ran what.
KEEP_CLAIMED = timedelta(days=1)


class RunRequest(models.Model):
    """Ask the running scheduler to run ``task`` once, now."""

    task = models.ForeignKey(
        "autosched.PeriodicTask",
        on_delete=models.CASCADE,
        related_name="run_requests",
        verbose_name=_("task"),
    )
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    requested_at = models.DateTimeField(_("requested at"), db_default=db_now())
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claimed_by = models.CharField(
        _("claimed by"),
        max_length=255,
        blank=True,
        help_text=_("The scheduler that claimed it: host:pid:token."),
    )

    class Meta:
        app_label = "autosched"
        ordering = ("-requested_at",)
        verbose_name = _("run request")
        verbose_name_plural = _("run requests")
        indexes = (models.Index(fields=("claimed_at", "requested_at")),)

    def __str__(self) -> str:
        return f"run {self.task_id} requested by {self.requested_by or '?'}"


class Claim(NamedTuple):
    """A request this scheduler won: run the task named ``name`` now."""

    id: int
    name: str
    requested_by: str
    requested_at: datetime


def claim_requests(using: str = "default", *, claimer: str) -> list[Claim]:
    """Claim the pending, unexpired requests for this scheduler; expire the stale ones."""
    candidates = pending_ids(using)
    if not candidates:  # the usual case: one indexed query that finds nothing
        return []
    expire_requests(using)
    return claim(candidates, using, claimer=claimer)


def pending_ids(using: str = "default") -> list[int]:
    """Return the ids of (some of) the unclaimed requests."""
    pending = RunRequest.objects.using(using).filter(claimed_at__isnull=True)
    return list(pending.values_list("id", flat=True)[:100])


def expire_requests(using: str) -> None:
    """Delete the requests no scheduler claimed within ``REQUEST_TTL``, with a warning each."""
    # By the database's clock, which also stamped requested_at: the web host's clock and the
    # scheduler's may disagree by minutes.
    expired = RunRequest.objects.using(using).filter(
        claimed_at__isnull=True, requested_at__lt=db_now_plus(-REQUEST_TTL.total_seconds())
    )
    for name, by in expired.values_list("task__name", "requested_by"):
        logger.warning(
            "Run request for %r by %s expired: no scheduler claimed it within %d s.",
            name,
            by or "?",
            REQUEST_TTL.total_seconds(),
        )
    expired.delete()


def claim(ids: list[int], using: str, *, claimer: str) -> list[Claim]:
    """Claim the requests ``ids`` that nobody claimed yet; return those this call won."""
    requests = RunRequest.objects.using(using)
    # Whoever updates a row first owns it: another scheduler's UPDATE then matches nothing.
    won = requests.filter(id__in=ids, claimed_at__isnull=True).update(
        claimed_at=db_now(), claimed_by=claimer
    )
    if not won:
        return []
    requests.filter(claimed_at__lt=db_now_plus(-KEEP_CLAIMED.total_seconds())).delete()
    # The claimer is this process alone (host, pid, token), and these ids were unclaimed.
    claimed = requests.filter(id__in=ids, claimed_by=claimer).order_by("requested_at")
    return [
        Claim(*row)
        for row in claimed.values_list("id", "task__name", "requested_by", "requested_at")
    ]
