"""A wall clock that jumps (NTP correcting a pile without a battery-backed clock, often by hours
just after boot) neither fires nor stretches a timer, and does not stop a session; what is due at
an absolute time (a reservation's expiry) is due at that time."""

from datetime import timedelta

import pytest

from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core.times import ClockWatch
from rig.bench import Bench

HOURS = 3600.0


def test_a_session_charges_on_through_a_jump_forward() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(60)
    b.step_clock(3 * HOURS)
    b.feed(ev.Tick())  # the daemon ticks every 0.1 s, before the next meter poll
    b.advance(30)
    assert b.c(1).state == "charging" and not b.c(1).faults and b.relay_closed(1)
    assert "transaction.stopped" not in b.types()
    # and the periodic samples keep their interval (10 s), not one burst for three hours
    samples = [e for e in b.events("meter.values") if e["context"] == "Sample.Periodic"]
    assert 8 <= len(samples) <= 10


def test_a_dead_meter_is_still_found_in_time_after_a_jump_back() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(10)
    b.step_clock(-3 * HOURS)  # the last reading now looks three hours in the future
    b.sim.kill_meter(1, True)
    b.advance(6)  # stale_after is 5 s
    assert "MeterFailure" in [f.value for f in b.c(1).faults]
    assert not b.relay_closed(1)


def test_a_lockout_lasts_its_length_whatever_the_clock_does() -> None:
    b = Bench(reservation={"max_attempts": 2, "lockout_s": 300})
    b.reserve(1, minutes=600)
    b.do("plug")
    for _ in range(2):
        b.do("code", 1, "000000")
    b.step_clock(HOURS)
    b.do("code", 1, "123456")
    assert b.events("authorization.rejected")[-1]["reason"] == "LockedOut", "a jump ended it"
    b.advance(300)
    b.do("code", 1, "123456")
    assert b.c(1).state == "charging"


def test_the_release_policy_counts_its_length_across_a_jump() -> None:
    b = Bench(payment={"release_after_s": 15 * 60})
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    assert b.c(1).state == "awaiting_payment"
    b.step_clock(HOURS)
    b.advance(60)
    assert b.c(1).state == "awaiting_payment", "an unpaid cable was released early"
    b.advance(15 * 60)
    assert b.c(1).state == "unlocked"
    assert b.events("payment.settled")[-1]["how"] == "ReleasedByPolicy"


def test_a_reservation_expires_at_the_time_the_backend_gave() -> None:
    b = Bench()
    assert b.reserve(1, minutes=30) == cmd.ACCEPTED
    b.step_clock(HOURS)  # it is later than the pile thought: the booking has run out
    b.advance(1)
    assert b.c(1).state == "idle"
    assert b.events("reservation.ended")[-1]["reason"] == "Expired"


class FakeClocks:
    def __init__(self) -> None:
        self.mono, self.wall = 100.0, 1_800_000_000.0

    def tick(self, seconds: float, wall_extra: float = 0.0) -> None:
        self.mono += seconds
        self.wall += seconds + wall_extra


def test_the_watch_reports_a_step_once_and_lets_slewing_pass() -> None:
    clocks = FakeClocks()
    watch = ClockWatch(lambda: clocks.mono, lambda: clocks.wall)
    clocks.tick(0.1)
    assert watch.step() == 0.0
    for _ in range(100):  # NTP slewing: 0.5 ms a second, far below a step
        clocks.tick(0.1, wall_extra=0.00005)
        assert watch.step() == 0.0
    clocks.tick(0.1, wall_extra=3 * HOURS)
    assert watch.step() == pytest.approx(3 * HOURS)
    clocks.tick(0.1)
    assert watch.step() == 0.0
    clocks.tick(0.1, wall_extra=-2.5)
    assert watch.step() == pytest.approx(-2.5)


def test_deadlines_from_before_a_restart_keep_their_time_when_ntp_fixes_the_boot_clock() -> None:
    """The pile went down locked out and unpaid; it boots an hour behind (the Pi's saved clock)
    and NTP steps it right: the lockout and the release end when they were meant to."""
    b = Bench(
        reservation={"max_attempts": 2, "lockout_s": 300}, payment={"release_after_s": 15 * 60}
    )
    b.start_reserved_session(cid=1)
    b.advance(600)
    b.do("stop_button", 1)
    b.reserve(2, minutes=600)
    b.do("plug", 2)
    for _ in range(2):
        b.do("code", 2, "000000")
    locked_until = b.c(2).gate.locked_until
    release_at = b.c(1).transaction.stopped_at + timedelta(minutes=15)  # type: ignore[union-attr]
    b = b.restarted()
    b.now -= timedelta(hours=1)  # booted with a stale clock
    b.step_clock(HOURS)  # NTP
    assert b.c(2).gate.locked_until == locked_until
    b.advance((release_at - b.now).total_seconds() + 1)
    assert b.c(1).state == "unlocked"
