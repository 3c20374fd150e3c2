"""After a crash the pile rebuilds every connector from its journaled snapshot: no billable
session is lost, none is stopped twice, no cable is released unpaid."""

from pile_controller.core import commands as cmd
from rig.bench import Bench


def test_a_session_cut_off_mid_charge_is_stopped_and_billed_on_the_meter() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.advance(1800)  # 3.5 kWh at 7 kW
    b.sim.meters[1].register_wh += 700  # energy that flowed before the power went
    after = b.restarted()
    stopped = after.events("transaction.stopped")
    assert len(stopped) == 1 and stopped[0]["transaction_id"] == tx
    assert stopped[0]["reason"] == "PowerLoss"
    assert stopped[0]["energy_wh"] == 4200 and stopped[0]["cost"]["total"] == "8.40"
    assert after.c(1).state == "awaiting_payment"
    assert after.cable_locked() and not after.relay_closed()
    assert after.pay() == cmd.ACCEPTED and not after.cable_locked()


def test_an_unpaid_session_waits_for_payment_again_with_its_cable_locked() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    amount = b.c(1).transaction.amount  # type: ignore[union-attr]
    after = b.restarted()
    assert after.c(1).state == "awaiting_payment" and after.cable_locked()
    assert after.c(1).transaction.amount == amount  # type: ignore[union-attr]
    assert len(after.events("transaction.stopped")) == 1, "not stopped a second time"
    assert after.pay() == cmd.ACCEPTED


def test_a_settled_session_is_not_billed_again() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    b.pay()
    b.do("unplug")
    after = b.restarted().restarted()
    assert after.c(1).state == "idle"
    assert len(after.events("transaction.stopped")) == 1
    assert len(after.events("payment.settled")) == 1


def test_reservations_lockouts_and_availability_survive() -> None:
    b = Bench(reservation={"max_attempts": 2, "lockout_s": 5 * 60})
    b.reserve(1, minutes=30)
    b.do("plug")
    b.do("code", 1, "000000")
    b.do("code", 1, "000000")  # locked out now
    b.command(cmd.SetAvailability(2, False))
    after = b.restarted()
    assert after.c(1).reservation is not None and after.c(2).state == "unavailable"
    after.do("code", 1, "123456")
    assert after.events("authorization.rejected")[-1]["reason"] == "LockedOut"
    after.advance(300)
    after.do("code", 1, "123456")
    assert after.c(1).state == "charging"
    after.advance(1800)
    assert after.c(1).reservation is None


def test_a_meter_that_does_not_come_back_bills_on_the_last_journaled_reading() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    last = b.c(1).transaction.meter_last_wh  # type: ignore[union-attr]
    b.sim.kill_meter(1, True)
    after = b.restarted()
    after.sim.kill_meter(1, True)
    after.advance(6)
    stopped = after.events("transaction.stopped")[0]
    assert (stopped["reason"], stopped["meter_stop_wh"]) == ("PowerLoss", last)
