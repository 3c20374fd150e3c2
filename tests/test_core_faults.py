"""Faults: the e-stop, a welded relay, a jammed lock, a dead meter, a bug."""

from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from rig.bench import Bench


def test_estop_opens_the_relay_before_the_core_hears_of_it() -> None:
    b = Bench()
    b.start_reserved_session()
    b.sim.set_estop(True)
    assert not b.relay_closed()
    assert b.sim.history.of("relay1")[-1].what == "opened"


def test_estop_stops_bills_and_holds_faulted_until_released() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(1800)
    b.sim.set_estop(True)
    b.apply([])
    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "EmergencyStop" and stopped["energy_wh"] == 3500
    assert stopped["cost"]["total"] == "7.00"
    assert b.c(1).state == "faulted" and b.c(2).state == "faulted"
    assert b.cable_locked(), "an unpaid cable stays locked through the fault"
    assert b.command(cmd.RemoteStart(2, "x")) == cmd.rejected("Faulted")
    b.advance(600)
    assert b.c(1).state == "faulted"
    b.sim.set_estop(False)
    b.apply([])
    assert (b.c(1).state, b.c(2).state) == ("awaiting_payment", "idle")
    assert b.pay() == cmd.ACCEPTED and not b.cable_locked()


def test_estop_ends_a_reservation_as_faulted() -> None:
    b = Bench()
    b.reserve(1)
    b.sim.set_estop(True)
    b.apply([])
    assert b.events("reservation.ended") == [{"reservation_id": "R1", "reason": "Faulted"}]


def test_a_welded_relay_faults_and_keeps_the_cable_locked_even_when_paid() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.do("weld", 1, True)
    b.do("stop_button")
    b.advance(1)
    assert b.c(1).state == "faulted"
    assert [f["code"] for f in b.events("fault.raised")] == ["RelayWelded"]
    assert b.pay() == cmd.ACCEPTED
    assert b.cable_locked()
    assert b.command(cmd.Unlock(1)) == cmd.rejected("RelayClosed")
    b.do("weld", 1, False)
    assert b.c(1).state == "faulted" and b.cable_locked(), "a weld is latched"
    assert b.technician_clears(1) == cmd.ACCEPTED
    assert b.c(1).state == "unlocked" and not b.cable_locked()


def test_a_fault_clear_is_refused_while_the_hardware_still_shows_it() -> None:
    b = Bench()
    b.start_reserved_session()
    b.do("weld", 1, True)
    b.do("stop_button")
    b.advance(1)
    refusal = b.technician_clears(1)
    assert refusal == cmd.rejected("RelayWelded: the contactor's feedback still reports closed")
    assert b.c(1).state == "faulted"


def test_faults_that_clear_by_themselves_are_not_the_technicians() -> None:
    b = Bench()
    assert b.technician_clears(1) == cmd.rejected("no fault to clear")
    b.sim.set_estop(True)
    b.apply([])
    assert b.technician_clears(1) == cmd.rejected(
        "EmergencyStop clears by itself when the emergency stop is released"
    )


def test_a_jammed_lock_faults_and_never_closes_the_relay() -> None:
    b = Bench()
    b.do("jam_lock", 1, True)
    b.reserve(1)
    b.do("plug")
    b.do("code", 1, "123456")
    assert b.c(1).state == "authenticating" and not b.relay_closed()
    b.advance(1)
    assert b.c(1).state == "faulted" and not b.relay_closed()
    assert b.events("transaction.started") == []
    b.do("jam_lock", 1, False)
    assert b.c(1).state == "unlocked" and not b.cable_locked()
    b.do("unplug")
    assert b.c(1).state == "idle"


def test_lock_letting_go_while_charging_stops_the_session() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(60)
    b.do("jam_lock", 1, True)
    assert not b.relay_closed()
    assert b.events("transaction.stopped")[0]["reason"] == "Other"
    assert b.c(1).state == "faulted"


def test_a_dead_meter_faults_within_stale_after_and_bills_the_last_good_reading() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(3600)
    good = b.c(1).reading.energy_register_wh  # type: ignore[union-attr]
    b.sim.kill_meter(1, True)
    b.advance(4)
    assert b.c(1).state == "charging"
    b.advance(1)
    assert b.c(1).state == "faulted" and not b.relay_closed()
    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "Other" and stopped["meter_stop_wh"] == good
    assert b.events("fault.raised") == [
        {
            "code": "MeterFailure",
            "message": "No valid energy meter reading: simulated meter 1: no response",
        }
    ]
    b.sim.kill_meter(1, False)
    b.advance(1)
    assert b.c(1).state == "awaiting_payment"


def test_a_connector_whose_meter_is_dead_refuses_new_sessions() -> None:
    b = Bench()
    b.sim.kill_meter(1, True)
    b.advance(5)
    assert b.c(1).state == "faulted"
    b.do("plug")
    assert b.command(cmd.RemoteStart(1, "x")) == cmd.rejected("Faulted")
    assert not b.relay_closed()


def test_a_meter_register_going_backwards_is_not_a_reading() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    before = b.c(1).transaction.meter_last_wh  # type: ignore[union-attr]
    b.sim.meters[1].register_wh = 0
    b.advance(1)
    assert b.c(1).transaction.meter_last_wh == before  # type: ignore[union-attr]
    b.advance(5)  # metering.stale_after_s without a reading: the cause is named
    fault = b.events("fault.raised")[-1]
    assert fault["code"] == "MeterFailure"
    assert f"import register went backwards from {before} to " in fault["message"]


def test_a_register_going_backwards_between_sessions_is_not_a_reading_either() -> None:
    b = Bench()
    b.sim.meters[1].register_wh = 5000
    b.advance(1)
    b.sim.meters[1].register_wh = 4000  # a swapped or reset meter: not to be billed from
    b.advance(1)
    assert b.c(1).reading is not None and b.c(1).reading.energy_register_wh == 5000


def test_a_relay_opened_behind_the_cores_back_stops_the_session_billed() -> None:
    """What follows a failing core step: the daemon opens every relay (tests/test_daemon_bugs.py),
    and the core, seeing the contactor disagree with what it commanded, faults and bills."""
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.hardware.connectors[1].relay.open()
    assert not b.relay_closed()
    b.advance(1)
    assert b.c(1).state == "faulted"
    assert b.events("transaction.stopped")[0]["reason"] == "Other"


def test_an_estop_released_before_the_stop_reading_keeps_the_cable_of_the_unpaid_session() -> None:
    """A quick tap of the e-stop while the meter is slow (or the stop reading waits behind a
    slow disk): the fault clears before the session is billed. The connector must not come to
    rest as `unlocked` and free the cable of a session nobody has paid for."""
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.sim.kill_meter(1, True)  # the stop reading does not come yet
    b.sim.set_estop(True)
    b.apply([])
    b.sim.set_estop(False)
    b.apply([])
    assert b.cable_locked() and b.c(1).state == "charging" and not b.relay_closed()
    b.sim.kill_meter(1, False)
    b.advance(1)
    assert b.events("transaction.stopped")[0]["reason"] == "EmergencyStop"
    assert b.c(1).state == "awaiting_payment" and b.cable_locked()
    assert b.pay() == cmd.ACCEPTED
    assert not b.cable_locked()


def test_a_contactor_reading_closed_at_boot_is_welded_at_once() -> None:
    b = Bench()
    b.sim.relays[1].welded = True  # the feedback as the inputs report it at attach
    b.feed(ev.RelayFeedback(1, True))
    assert b.c(1).state == "faulted"
    assert b.events("fault.raised")[-1]["code"] == "RelayWelded"


def test_a_lock_engaged_at_boot_with_no_session_is_released() -> None:
    b = Bench()
    b.sim.locks[1].locked = True  # engaged, though the journal says nothing holds it
    b.feed(ev.LockFeedback(1, True))
    assert not b.sim.locks[1].locked and b.c(1).state == "idle" and not b.c(1).faults


def test_a_lock_engaged_at_boot_for_an_unpaid_session_stays() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    b = b.restarted()  # the journal's unpaid session locks the cable again
    b.feed(ev.LockFeedback(1, True))
    assert b.sim.locks[1].locked and b.c(1).state == "awaiting_payment"
