"""The core follows the control pilot (CONTRACT 9.2), on the simulated vehicle: PWM only for a
session, the contactor only while the vehicle asks, pauses by either side, pilot faults, the
limits and the site's sharing."""

from hal.pilot import CpState
from pile_controller.backend.wire import ocpp_status
from pile_controller.core import commands as cmd
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from rig.bench import Bench


def charging(b: Bench, cid: int = 1) -> str:
    b.do("plug", cid)
    assert b.command(cmd.RemoteStart(cid, f"driver-{cid}")) == cmd.ACCEPTED
    tx = b.c(cid).transaction
    assert tx is not None and b.relay_closed(cid)
    return tx.transaction_id


def test_the_pilot_is_plain_12_volts_until_a_session_then_offers_the_limit() -> None:
    b = Bench()
    b.do("plug")
    assert b.sim.pilots[1].offer_a is None and b.c(1).cp is CpState.B
    charging_ = charging(b)
    assert charging_ and b.sim.pilots[1].offer_a == 32.0 and b.c(1).cp is CpState.C
    assert b.c(1).pilot_offer == 32.0


def test_the_contactor_waits_for_the_vehicle_to_ask() -> None:
    b = Bench()
    b.sim.ev_power(1, 0)  # a full battery: it never asks
    b.do("plug")
    b.command(cmd.RemoteStart(1, "app"))
    assert b.c(1).state == "charging" and not b.relay_closed()
    assert ocpp_status(b.c(1)) == "SuspendedEV"
    b.do("ev_power", 1, 7000)
    assert b.relay_closed()
    b.advance(1)  # the meter shows it drawing
    assert ocpp_status(b.c(1)) == "Charging"


def test_the_vehicle_pauses_and_resumes_in_the_same_transaction() -> None:
    b = Bench()
    tid = charging(b)
    b.do("ev_power", 1, 0)  # C -> B
    assert not b.relay_closed() and ocpp_status(b.c(1)) == "SuspendedEV"
    assert b.sim.pilots[1].offer_a == 32.0  # the PWM stays on while the vehicle pauses
    b.advance(60)
    b.do("ev_power", 1, 7000)  # B -> C
    assert b.relay_closed()
    tx = b.c(1).transaction
    assert tx is not None and tx.transaction_id == tid and b.events("transaction.stopped") == []


def test_a_flapping_pilot_does_not_make_the_contactor_chatter() -> None:
    b = Bench()
    charging(b)
    b.do("ev_power", 1, 0)
    effects = b.pile.handle(ev.PilotState(1, CpState.C), b.now)  # back within the same instant
    assert not any(isinstance(e, fx.CloseRelay) for e in effects), "closed without resting"
    assert [e.text for e in effects if isinstance(e, fx.Note)] == [
        "the pilot flaps: the contactor rests 1 s before each close"
    ]
    b.sim.ev_power(1, 7000)
    b.advance(1)
    assert b.relay_closed()


def test_unplugging_stops_with_ev_disconnected_and_keeps_a_socket_cable_locked() -> None:
    b = Bench()
    charging(b)
    b.advance(600)
    b.do("unplug")
    assert b.events("transaction.stopped")[0]["reason"] == "EVDisconnected"
    assert b.c(1).state == "awaiting_payment" and b.cable_locked() and not b.relay_closed()


def test_a_pilot_short_opens_at_once_faults_and_bills() -> None:
    b = Bench()
    charging(b)
    b.advance(600)
    b.do("force_pilot", 1, CpState.E)
    assert not b.relay_closed() and b.c(1).state == "faulted"
    assert b.events("fault.raised")[-1]["code"] == "PilotFault"
    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "Other" and stopped["energy_wh"] > 0
    b.do("force_pilot", 1, CpState.B)
    assert b.events("fault.cleared")[-1]["code"] == "PilotFault"
    assert b.c(1).state == "awaiting_payment"


def test_a_missing_diode_is_a_pilot_fault() -> None:
    b = Bench()
    charging(b)
    b.do("set_diode", 1, False)
    assert not b.relay_closed() and b.events("fault.raised")[-1]["code"] == "PilotFault"


def test_a_13_amp_cable_limits_the_offer() -> None:
    b = Bench()
    b.sim.set_cable(1, 13)
    b.sim.ev_power(1, 22000)  # it would take 32 A a phase
    charging(b)
    assert b.sim.pilots[1].offer_a == 13.0
    b.advance(3600)
    # The vehicle draws what the pilot offers: 13 A x 230 V x 3 phases for an hour.
    assert abs(b.c(1).transaction.energy_wh - 13 * 230 * 3) <= 10  # type: ignore[union-attr]


def test_a_socket_whose_pp_reads_no_cable_is_offered_nothing() -> None:
    b = Bench()
    charging(b)
    b.sim.set_cable(1, None)  # open, or out of every band
    b.advance(1)
    assert b.sim.pilots[1].offer_a is None and b.c(1).suspended() == "EVSE"
    b.sim.set_cable(1, 20)
    b.advance(1)
    assert b.sim.pilots[1].offer_a == 20.0


def test_a_backend_limit_of_10_then_0_then_none() -> None:
    b = Bench()
    tid = charging(b)
    assert b.command(cmd.SetLimit(1, 10.0)) == cmd.ACCEPTED
    assert b.sim.pilots[1].offer_a == 10.0 and b.relay_closed()
    b.command(cmd.SetLimit(1, 0.0))
    assert b.sim.pilots[1].offer_a is None  # the PWM withdrawn: the vehicle goes to B
    assert not b.relay_closed() and ocpp_status(b.c(1)) == "SuspendedEVSE"
    assert b.c(1).transaction is not None and b.c(1).transaction.transaction_id == tid
    b.command(cmd.SetLimit(1, None))
    b.advance(1)
    assert b.sim.pilots[1].offer_a == 32.0 and b.relay_closed()


def test_withdrawn_pwm_opens_after_6_seconds_if_the_vehicle_stays_in_c() -> None:
    b = Bench()
    charging(b)
    b.do("force_pilot", 1, CpState.C)  # a vehicle that ignores the pilot
    b.command(cmd.SetLimit(1, 0.0))
    b.advance(5)
    assert b.relay_closed()
    b.advance(1)
    assert not b.relay_closed()


def test_two_connectors_share_the_site_then_one_gets_it_all() -> None:
    b = Bench()
    b.command(cmd.SetLimit(0, 32.0))
    b.sim.ev_power(1, 22000)  # both vehicles take all they are offered
    b.sim.ev_power(2, 22000)
    charging(b, 1)
    b.advance(60)
    charging(b, 2)
    assert (b.sim.pilots[1].offer_a, b.sim.pilots[2].offer_a) == (16.0, 16.0)
    b.do("stop_button", 2)
    assert b.sim.pilots[1].offer_a == 32.0 and b.sim.pilots[2].offer_a is None


def test_when_6_amps_each_is_not_possible_the_newer_session_waits() -> None:
    b = Bench()
    b.command(cmd.SetLimit(0, 10.0))
    charging(b, 1)
    b.advance(60)
    b.do("plug", 2)
    b.command(cmd.RemoteStart(2, "late"))
    assert b.sim.pilots[1].offer_a == 10.0 and b.sim.pilots[2].offer_a is None
    assert ocpp_status(b.c(2)) == "SuspendedEVSE"


def test_current_left_unused_goes_to_the_other_connector_after_30_seconds() -> None:
    b = Bench()
    b.command(cmd.SetLimit(0, 32.0))
    b.sim.ev_power(1, 230 * 3 * 6.0)  # connector 1's vehicle takes 6 A a phase
    b.sim.ev_power(2, 22000)  # connector 2's would take 32 A
    charging(b, 1)
    charging(b, 2)
    assert b.sim.pilots[2].offer_a == 16.0
    b.advance(31)
    assert b.c(1).pilot_offer == 7.0  # what it uses, and 1 A to spare
    assert b.c(2).pilot_offer == 25.0


def test_limits_survive_a_restart() -> None:
    b = Bench()
    b.command(cmd.SetLimit(0, 20.0))
    b.command(cmd.SetLimit(2, 10.0))
    b = b.restarted()
    assert b.pile.site_max_current_a() == 20.0 and b.c(2).backend_limit == 10.0


def test_a_limit_for_an_unknown_connector_is_refused() -> None:
    b = Bench()
    assert b.command(cmd.SetLimit(7, 10.0)) == cmd.rejected("UnknownConnector")


def test_pause_timers_keep_their_length_across_a_clock_step() -> None:
    b = Bench()
    charging(b)
    b.do("ev_power", 1, 0)
    b.step_clock(-3600)
    b.do("ev_power", 1, 7000)
    assert not b.relay_closed()
    b.advance(1)
    assert b.relay_closed()


def test_a_vehicle_that_wants_more_again_gets_its_share_back() -> None:
    b = Bench()
    b.command(cmd.SetLimit(0, 32.0))
    b.sim.ev_power(1, 230 * 3 * 6.0)
    b.sim.ev_power(2, 22000)
    charging(b, 1)
    charging(b, 2)
    b.advance(31)
    assert b.c(1).pilot_offer == 7.0
    b.advance(120)
    assert b.c(1).pilot_offer == 7.0, "the cap held while it used no more"
    b.sim.ev_power(1, 22000)
    b.advance(2)
    assert b.c(1).pilot_offer == 16.0 and b.c(2).pilot_offer == 16.0


def test_a_single_phase_connector_draws_the_offer_on_one_phase() -> None:
    b = Bench()
    b.sim.pilots[1].phases = 1  # as a connector with phases = 1 is simulated
    b.sim.ev_power(1, 22000)
    charging(b)
    b.advance(1)
    reading = b.c(1).reading
    assert reading is not None and reading.power_w == 32 * 230
    assert reading.current_a == (32.0, 0.0, 0.0)
