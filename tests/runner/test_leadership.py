"""Leadership: one lease holder at a time, expiry by the database's clock, fencing, takeover."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError

from autosched.conf import MARGIN_SHARE
from autosched.models import SchedulerLease
from autosched.runner.identity import Identity
from autosched.runner.leadership import HANDOVER_WINDOW, Leadership
from tests.runner.helpers import FakeClock
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_holder_id_names_host_and_pid() -> None:
    host, pid, token = Leadership(identity=Identity()).holder.rsplit(":", 2)
    assert host
    assert int(pid) > 0
    assert len(token) == 8


def test_only_one_of_two_holds_the_lease() -> None:
    first, second = Leadership(ttl=10, renew_every=2), Leadership(ttl=10, renew_every=2)
    assert first.attempt() is True
    assert second.attempt() is False
    assert (first.role, second.role) == ("active", "standby")
    assert SchedulerLease.current("default", using="default").holder == first.holder  # type: ignore[union-attr]


def test_renewal_keeps_the_lease_and_its_acquisition_time() -> None:
    first = Leadership(ttl=10, renew_every=2)
    first.attempt()
    acquired = SchedulerLease.objects.get().acquired_at
    assert first.attempt() is True
    lease = SchedulerLease.objects.get()
    assert lease.acquired_at == acquired
    assert lease.expires_at > acquired


def test_an_expired_lease_passes_to_another() -> None:
    first, second = Leadership(ttl=0.3, renew_every=0.1), Leadership(ttl=0.3, renew_every=0.1)
    assert first.attempt()
    # The database's clock decides: wait for it rather than faking ours.
    wait_until(second.attempt, "the lease to expire and pass to the second")
    assert first.attempt() is False
    assert first.role == "standby"


def test_release_hands_over_at_once() -> None:
    first, second = Leadership(ttl=60, renew_every=2), Leadership(ttl=60, renew_every=2)
    first.attempt()
    first.release()
    assert not first.holds()
    assert second.attempt() is True


def test_release_leaves_another_holders_lease_alone() -> None:
    first, second = Leadership(ttl=60, renew_every=2), Leadership(ttl=60, renew_every=2)
    first.attempt()
    second.release()
    assert SchedulerLease.objects.get().holder == first.holder


def test_holding_ends_before_the_lease_can_expire() -> None:
    clock = FakeClock()
    leader = Leadership(ttl=10, renew_every=2, clock=clock)
    leader.attempt()
    clock.now += 10 * (1 - MARGIN_SHARE) - 0.01
    assert leader.holds()
    clock.now += 0.02  # still 2 s before the row expires: nobody else can have it yet
    assert not leader.holds()


def test_validity_counts_from_the_start_of_the_renewal() -> None:
    clock = FakeClock()
    leader = Leadership(ttl=10, renew_every=2, clock=clock)
    real_claim = SchedulerLease.claim

    def slow_claim(*args: Any, **kwargs: Any) -> bool:
        clock.now += 5  # the round trip took 5 s
        return real_claim(*args, **kwargs)

    with mock.patch.object(SchedulerLease, "claim", slow_claim):
        leader.attempt()
    clock.now += 3.1  # 8.1 s after the UPDATE was sent
    assert not leader.holds()


def test_a_database_error_keeps_the_lease_until_its_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    leader = Leadership(ttl=10, renew_every=2, clock=clock)
    leader.attempt()
    with mock.patch.object(SchedulerLease, "claim", side_effect=OperationalError("gone\nmore")):
        assert leader.attempt() is True
        assert leader.attempt() is True
    assert caplog.text.count("Cannot reach database 'default' to claim the scheduler lease") == 1
    assert leader.failures == 2
    clock.now += 8
    assert not leader.holds()
    leader.attempt()
    assert leader.failures == 0
    assert leader.holds()


def test_standby_logs_who_holds_the_lease_once(caplog: pytest.LogCaptureFixture) -> None:
    first, second = Leadership(ttl=60, renew_every=2), Leadership(ttl=60, renew_every=2)
    first.attempt()
    with caplog.at_level(logging.INFO, logger="autosched"):
        second.attempt()
        second.attempt()
    assert (
        caplog.text.count(f"Standing by: the scheduler lease 'default' is held by {first.holder}")
        == 1
    )


def test_renewal_below_ttl_is_required() -> None:
    with pytest.raises(ValueError, match="must be a number of seconds above 0 and below 80% of"):
        Leadership(ttl=2, renew_every=2)


def test_settings_give_the_defaults(settings: Any) -> None:
    settings.AUTOSCHED_LEASE_TTL = 30
    settings.AUTOSCHED_LEASE_RENEW = 5
    leader = Leadership()
    assert (leader.ttl, leader.renew_every) == (30.0, 5.0)


def test_watchdog_fences_when_renewals_fail() -> None:
    leader = Leadership(ttl=0.5, renew_every=0.1)
    changes: list[bool] = []
    lost = threading.Event()

    def on_change() -> None:
        changes.append(leader.holds())
        if not changes[-1]:
            lost.set()

    leader.on_change = on_change
    leader.start()
    try:
        wait_until(leader.holds, "the lease")
        with mock.patch.object(SchedulerLease, "claim", side_effect=OperationalError("down")):
            started = time.monotonic()
            assert lost.wait(2)
            assert time.monotonic() - started < 0.5
    finally:
        leader.close()
    assert changes[:2] == [True, False]


def test_close_releases_the_lease() -> None:
    leader = Leadership(ttl=10, renew_every=0.1)
    leader.start()
    wait_until(leader.holds, "the lease")
    leader.close()
    lease = SchedulerLease.objects.get()
    # Kept, marked released: a standby then knows when the scheduler stopped launching.
    assert (lease.holder, lease.released) == (leader.holder, True)


def test_a_failed_claim_is_retried_soon() -> None:
    leader = Leadership(ttl=10, renew_every=2)
    real_claim = SchedulerLease.claim
    calls: list[float] = []

    def claim(*args: Any, **kwargs: Any) -> bool:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise OperationalError("database table is locked")
        return real_claim(*args, **kwargs)

    with mock.patch.object(SchedulerLease, "claim", claim):
        leader.start()
        try:
            wait_until(leader.holds, "the lease, claimed again soon", timeout=1)
        finally:
            leader.close()
    assert calls[1] - calls[0] < 0.5  # not the 2 s renewal interval


class SkewedWall:
    """This host's wall clock, ``skew`` seconds off the database's."""

    def __init__(self, skew: float) -> None:
        self.skew = timedelta(seconds=skew)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skew


def test_a_process_started_after_a_graceful_stop_takes_the_handover() -> None:
    # Issue 19, 6: a process started for the stop (not a standby that watched it) wins the
    # lease: it too knows that nobody ran a slot since the stop, and catches up.
    old = Leadership(ttl=60, renew_every=2)
    old.attempt()
    old.release(stopped_ago=0.3)
    fresh = Leadership(ttl=60, renew_every=2)
    assert fresh.attempt() is True
    assert fresh.handover is not None
    assert fresh.handover.in_time
    assert 0.3 <= fresh.handover.gap < 2.0


def test_a_watching_standby_takes_the_handover() -> None:
    old, standby = Leadership(ttl=60, renew_every=2), Leadership(ttl=60, renew_every=2)
    old.attempt()
    assert standby.attempt() is False
    assert standby.handover is None
    old.release()
    assert standby.attempt() is True
    assert standby.handover is not None
    assert standby.handover.in_time


@pytest.mark.parametrize("skew", [0.0, 3600.0, -3600.0])
def test_the_stop_is_given_by_this_hosts_wall_clock(skew: float) -> None:
    # The lease holds the stop by the database's clock; the scheduler reads slots on this
    # host's: the handover says when the stop was by this host's clock, and never earlier.
    wall = SkewedWall(skew)
    old = Leadership(ttl=60, renew_every=2)
    old.attempt()
    before = wall()
    old.release(stopped_ago=0.5)
    fresh = Leadership(ttl=60, renew_every=2, wall_clock=wall)
    fresh.attempt()
    after = wall()
    assert fresh.handover is not None
    since = fresh.handover.since
    assert before - timedelta(seconds=0.5) <= since <= after - timedelta(seconds=0.5), (
        before,
        since,
        after,
    )


def test_a_lease_taken_long_after_the_stop_is_not_in_time() -> None:
    old = Leadership(ttl=60, renew_every=2)
    old.attempt()
    old.release(stopped_ago=HANDOVER_WINDOW + 1)
    fresh = Leadership(ttl=60, renew_every=2)
    fresh.attempt()
    assert fresh.handover is not None
    assert not fresh.handover.in_time  # its since still holds: nothing before it runs again


def test_an_expired_lease_gives_no_handover() -> None:
    crashed, next_one = Leadership(ttl=0.3, renew_every=0.1), Leadership(ttl=0.3, renew_every=0.1)
    crashed.attempt()  # then never renewed nor released, as after a SIGKILL
    wait_until(next_one.attempt, "the lease to expire and pass on")
    assert next_one.handover is None
