"""The lease row that makes one ``runscheduler`` among many the active one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from autosched.models.db_clock import db_now_plus

__all__ = ["LeaseClaim", "SchedulerLease"]


@dataclass(frozen=True)
class LeaseClaim:
    """What one claim of the lease found, by the database's clock."""

    won: bool
    #: The database's time when the lease was read (None: a renewal, which reads nothing).
    db_time: datetime | None = None
    #: When the previous holder stopped launching runs, if it released the lease to us
    #: gracefully (None after a crash, a renewal, or a first claim).
    handed_over_at: datetime | None = None


class SchedulerLease(models.Model):
    """Who holds the right to launch runs, and until when (by the database's clock).

    A holder that stops gracefully does not delete its row: it marks it ``released`` and sets
    ``expires_at`` to the moment it stopped launching runs, so that a standby taking over
    knows which slots nobody ran meanwhile.
    """

    name = models.CharField(_("name"), max_length=100, primary_key=True)
    holder = models.CharField(_("holder"), max_length=255)
    acquired_at = models.DateTimeField(_("acquired at"))
    expires_at = models.DateTimeField(_("expires at"))
    released = models.BooleanField(_("released"), default=False)

    class Meta:
        app_label = "autosched"
        verbose_name = _("scheduler lease")
        verbose_name_plural = _("scheduler leases")

    def __str__(self) -> str:
        state = "released by" if self.released else "held by"
        return f"{self.name} {state} {self.holder}"

    @classmethod
    def claim(cls, name: str, holder: str, ttl: float, *, using: str) -> LeaseClaim:
        """Renew lease ``name`` for ``ttl`` seconds if ours, or take it if free or expired."""
        leases = cls.objects.using(using)
        # The common case, a renewal: one UPDATE, atomic on every backend.
        if leases.filter(name=name, holder=holder, released=False).update(
            expires_at=db_now_plus(ttl)
        ):
            return LeaseClaim(won=True)
        found = (
            leases.filter(name=name)
            .annotate(db_time=Now())
            .values_list("holder", "expires_at", "released", "db_time")
            .first()
        )
        if found is None:
            try:
                with transaction.atomic(using=using):
                    leases.create(
                        name=name, holder=holder, acquired_at=Now(), expires_at=db_now_plus(ttl)
                    )
            except IntegrityError:  # another claimant created it first
                return LeaseClaim(won=False)
            return LeaseClaim(won=True)
        previous, expires_at, released, db_time = found
        # Taken only as it was read, and only if expired: of two claimants, one UPDATE wins.
        taken = leases.filter(
            Q(expires_at__lt=Now()), name=name, holder=previous, expires_at=expires_at
        ).update(holder=holder, acquired_at=Now(), expires_at=db_now_plus(ttl), released=False)
        handed_over_at = expires_at if taken and released else None
        return LeaseClaim(won=bool(taken), db_time=db_time, handed_over_at=handed_over_at)

    @classmethod
    def release(cls, name: str, holder: str, *, using: str, stopped_ago: float = 0.0) -> bool:
        """Give up lease ``name`` if ``holder`` holds it; return whether it did.

        ``stopped_ago`` says how many seconds ago this holder stopped launching runs.
        """
        released = (
            cls.objects.using(using)
            .filter(name=name, holder=holder, released=False)
            .update(released=True, expires_at=db_now_plus(-max(stopped_ago, 0.0)))
        )
        return bool(released)

    @classmethod
    def current(cls, name: str, *, using: str) -> SchedulerLease | None:
        """Return lease ``name`` as stored, expired or not, or None if nobody ever held it."""
        return cls.objects.using(using).filter(name=name).first()
