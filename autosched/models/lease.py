"""The lease row that makes one ``runscheduler`` among many the active one."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.db.models import Case, ExpressionWrapper, F, Q, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

__all__ = ["SchedulerLease"]


def _now_plus(seconds: float) -> ExpressionWrapper[CombinedExpression]:
    # The database's clock, never this host's: hosts whose clocks disagree still agree on
    # when a lease expires, since every comparison and expiry is computed by one server.
    return ExpressionWrapper(
        Now() + Value(timedelta(seconds=seconds)), output_field=models.DateTimeField()
    )


class SchedulerLease(models.Model):
    """Who holds the right to launch runs, and until when (by the database's clock)."""

    name = models.CharField(_("name"), max_length=100, primary_key=True)
    holder = models.CharField(_("holder"), max_length=255)
    acquired_at = models.DateTimeField(_("acquired at"))
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        app_label = "autosched"
        verbose_name = _("scheduler lease")
        verbose_name_plural = _("scheduler leases")

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"

    @classmethod
    def claim(cls, name: str, holder: str, ttl: float, *, using: str) -> bool:
        """Take or renew lease ``name`` for ``ttl`` seconds if free, expired or ours."""
        # One conditional UPDATE: atomic on every backend, so two claimants never both win.
        renewed = (
            cls.objects.using(using)
            .filter(Q(holder=holder) | Q(expires_at__lt=Now()), name=name)
            .update(
                holder=holder,
                expires_at=_now_plus(ttl),
                acquired_at=Case(When(holder=holder, then=F("acquired_at")), default=Now()),
            )
        )
        if renewed:
            return True
        try:
            with transaction.atomic(using=using):
                cls.objects.using(using).create(
                    name=name, holder=holder, acquired_at=Now(), expires_at=_now_plus(ttl)
                )
        except IntegrityError:  # the row exists and another holder's lease is still valid
            return False
        return True

    @classmethod
    def release(cls, name: str, holder: str, *, using: str) -> bool:
        """Give up lease ``name`` if ``holder`` holds it; return whether it did."""
        deleted, _ = cls.objects.using(using).filter(name=name, holder=holder).delete()
        return bool(deleted)

    @classmethod
    def current(cls, name: str, *, using: str) -> SchedulerLease | None:
        """Return lease ``name`` as stored, expired or not, or None if nobody ever held it."""
        return cls.objects.using(using).filter(name=name).first()
