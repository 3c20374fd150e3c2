"""The walk-up user (scan the QR code, backend `start`) and the ways a session stops."""

from pile_controller.backend.wire import ocpp_status
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core.events import Reading
from pile_controller.core.pile import Pile
from rig.bench import T0, Bench


def test_walk_up_plug_then_remote_start_charges() -> None:
    b = Bench()
    b.do("plug")
    assert b.c(1).state == "authenticating"
    assert b.command(cmd.RemoteStart(1, "app-user")) == cmd.ACCEPTED
    assert b.c(1).state == "charging" and b.relay_closed() and b.cable_locked()
    started = b.events("transaction.started")[0]
    assert started["id_token"] == "app-user" and started["reservation_id"] is None


def test_remote_start_before_plug_waits_for_the_plug() -> None:
    b = Bench()
    assert b.command(cmd.RemoteStart(1, "app-user")) == cmd.ACCEPTED
    assert b.c(1).state == "authenticating" and not b.relay_closed()
    b.advance(30)
    b.do("plug")
    assert b.c(1).state == "charging"


def test_remote_start_without_plug_times_out() -> None:
    b = Bench(pile={"plug_timeout_s": 120})
    b.command(cmd.RemoteStart(1, "app-user"))
    b.advance(120)
    assert b.c(1).state == "idle"
    b.do("plug")
    assert b.c(1).state == "authenticating" and not b.relay_closed()


def test_remote_start_on_a_reserved_connector_needs_the_reservation() -> None:
    b = Bench()
    b.reserve(1, rid="R1", id_token="owner")
    b.do("plug")
    assert b.command(cmd.RemoteStart(1, "stranger")) == cmd.rejected("Reserved")
    assert b.c(1).state == "authenticating"
    assert b.command(cmd.RemoteStart(1, "owner")) == cmd.ACCEPTED
    assert b.c(1).state == "charging"
    assert b.events("reservation.ended") == [{"reservation_id": "R1", "reason": "Used"}]


def test_remote_start_is_rejected_where_it_cannot_start() -> None:
    b = Bench()
    b.start_reserved_session(1)
    assert b.command(cmd.RemoteStart(1, "x")) == cmd.rejected("Occupied")
    assert b.command(cmd.RemoteStart(9, "x")) == cmd.rejected("UnknownConnector")
    b.command(cmd.SetAvailability(2, False))
    assert b.command(cmd.RemoteStart(2, "x")) == cmd.rejected("Unavailable")


def test_stop_command_stops_with_reason_remote() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.advance(60)
    assert b.command(cmd.RemoteStop(tx)) == cmd.ACCEPTED
    assert b.events("transaction.stopped")[0]["reason"] == "Remote"
    assert b.c(1).state == "awaiting_payment" and not b.relay_closed()
    assert b.command(cmd.RemoteStop(tx)) == cmd.rejected("NotCharging")
    assert b.command(cmd.RemoteStop("nope")) == cmd.rejected("UnknownTransaction")


def test_vehicle_unplugging_stops_with_ev_disconnected_and_keeps_the_cable_locked() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(60)
    b.do("unplug")
    assert b.events("transaction.stopped")[0]["reason"] == "EVDisconnected"
    assert b.c(1).state == "awaiting_payment" and b.cable_locked() and not b.relay_closed()
    assert b.pay() == cmd.ACCEPTED
    assert b.c(1).state == "idle" and not b.cable_locked()


def test_relay_opens_at_once_when_the_vehicle_unplugs() -> None:
    b = Bench()
    b.start_reserved_session()
    b.sim.unplug(1)  # before the core hears of it
    assert not b.relay_closed()


def test_a_session_that_cost_nothing_is_settled_free() -> None:
    b = Bench()
    b.start_reserved_session()
    b.do("stop_button")
    assert b.events("payment.settled")[0]["how"] == "Free"
    assert b.events("payment.requested") == []
    assert b.c(1).state == "unlocked" and not b.cable_locked()


def test_unpaid_cable_is_released_by_policy_after_release_after() -> None:
    b = Bench(payment={"release_after_s": 30 * 60})
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    b.advance(30 * 60 - 1)
    assert b.cable_locked()
    b.advance(1)
    assert b.events("payment.settled")[0]["how"] == "ReleasedByPolicy"
    assert not b.cable_locked()


def test_without_release_policy_an_unpaid_cable_stays_locked() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    b.advance(24 * 3600, step=60)
    assert b.c(1).state == "awaiting_payment" and b.cable_locked()


def test_technician_unlock_releases_an_unpaid_cable_and_says_so() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    assert b.command(cmd.Unlock(1)) == cmd.rejected("RelayClosed")
    assert b.cable_locked()
    b.do("stop_button")
    assert b.command(cmd.Unlock(1)) == cmd.ACCEPTED
    assert b.events("payment.settled")[0]["how"] == "ReleasedByTechnician"
    assert not b.cable_locked()


def test_status_reports_suspended_ev_while_the_vehicle_draws_nothing() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(2)
    assert ocpp_status(b.c(1)) == "Charging"
    b.sim.ev_power(1, 0)
    b.advance(2)
    assert ocpp_status(b.c(1)) == "SuspendedEV"


def test_periodic_meter_values_while_charging() -> None:
    b = Bench(metering={"interval_s": 10})
    b.start_reserved_session()
    b.advance(60)
    contexts = [m["context"] for m in b.events("meter.values")]
    assert contexts == ["Transaction.Begin"] + ["Sample.Periodic"] * 6


def test_running_cost_uses_the_tariff_the_transaction_began_with() -> None:
    from decimal import Decimal

    from pile_controller.core.tariff import Tariff

    b = Bench()
    b.start_reserved_session()
    b.command(cmd.SetTariff(Tariff("T2", "CNY", Decimal("9"), Decimal("9"))))
    b.advance(3600)
    b.do("stop_button")
    assert b.events("transaction.stopped")[0]["cost"]["tariff_id"] == "T-FLAT"
    assert b.events("transaction.stopped")[0]["cost"]["total"] == "14.00"


def test_stop_before_power_flows_cancels_the_start() -> None:
    b = Bench()
    b.command(cmd.RemoteStart(1, "app-user"))  # authorised, waiting for the plug
    b.do("stop_button")
    assert b.c(1).state == "idle"
    b.do("plug")
    assert b.c(1).state == "authenticating" and not b.relay_closed()
    assert b.events("transaction.started") == []


def test_stop_while_the_lock_engages_cancels_and_frees_the_cable() -> None:
    b = Bench()
    b.do("jam_lock", 1, True)  # the lock takes its time to report
    b.do("plug")
    b.command(cmd.RemoteStart(1, "app-user"))
    assert b.cable_locked() and b.c(1).state == "authenticating"
    b.do("stop_button")
    b.do("jam_lock", 1, False)
    b.advance(2)
    assert b.c(1).state == "unlocked" and not b.cable_locked() and not b.relay_closed()
    assert b.events("transaction.started") == []


def test_a_session_waits_for_its_first_meter_reading_whatever_reports_first() -> None:
    """At boot the lock's feedback may come before the meter's first reading (two Modbus TCP
    meters did that on 3 of 4 starts): the session begins on that reading, not on an
    assertion."""
    ctx = Bench().ctx
    pile = Pile([1], ctx, T0)
    pile.handle(ev.PlugIn(1), T0)
    pile.command(cmd.RemoteStart(1, "app-user"), T0)
    pile.handle(ev.LockFeedback(1, True), T0)
    assert pile.connectors[1].state == "authenticating"
    assert pile.connectors[1].transaction is None
    pile.handle(ev.MeterReading(1, Reading(1000, 0.0, at=T0)), T0)
    tx = pile.connectors[1].transaction
    assert pile.connectors[1].state == "charging" and tx is not None
    assert tx.meter_start_wh == 1000


def test_without_hold_cable_the_stop_releases_the_cable_and_asks_no_payment() -> None:
    # CONTRACT 10, 12: as any charger whose backend bills the driver's account.
    b = Bench(payment={"hold_cable": False})
    b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    b.advance(2)
    assert b.events("payment.requested") == []
    assert b.events("payment.settled")[0]["how"] == "ReleasedByPolicy"
    assert b.c(1).state == "unlocked" and not b.cable_locked()
    assert b.events("transaction.stopped")[0]["cost"]["total"] != "0.00"  # still billed


def test_a_start_for_any_connector_takes_the_one_a_vehicle_is_plugged_into() -> None:
    # OCPP's RemoteStartTransaction without a connectorId: the core chooses, not the link.
    b = Bench()
    b.do("plug", 2)
    assert b.command(cmd.RemoteStart(0, "app-any")) == cmd.ACCEPTED
    assert b.c(2).transaction is not None and b.c(2).transaction.id_token == "app-any"
    assert b.c(1).state == "idle"
    assert b.command(cmd.RemoteStart(0, "app-other")) == cmd.ACCEPTED  # the idle one
    assert b.c(1).authorization is not None and b.c(1).authorization.id_token == "app-other"
    assert b.command(cmd.RemoteStart(0, "app-third")).status is cmd.ReplyStatus.OCCUPIED
