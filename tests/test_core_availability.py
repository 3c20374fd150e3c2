"""Availability: taking connectors out of service and back, now or after the session."""

from pile_controller.core import commands as cmd
from rig.bench import Bench

SCHEDULED = cmd.Reply(cmd.ReplyStatus.SCHEDULED)


def test_idle_connector_goes_unavailable_and_back() -> None:
    b = Bench()
    assert b.command(cmd.SetAvailability(1, False)) == cmd.ACCEPTED
    assert b.c(1).state == "unavailable"
    assert b.command(cmd.SetAvailability(1, True)) == cmd.ACCEPTED
    assert b.c(1).state == "idle"
    assert b.events("availability.changed") == [{"available": False}, {"available": True}]


def test_unavailable_while_charging_is_scheduled_after_the_session() -> None:
    b = Bench()
    b.start_reserved_session()
    b.advance(600)
    assert b.command(cmd.SetAvailability(1, False)) == SCHEDULED
    assert b.c(1).state == "charging" and b.relay_closed()
    b.do("stop_button")
    b.pay()
    b.do("unplug")
    assert b.c(1).state == "unavailable"
    assert b.events("availability.changed") == [{"available": False}]


def test_connector_zero_means_all_connectors() -> None:
    b = Bench()
    b.start_reserved_session(2)
    assert b.command(cmd.SetAvailability(0, False)) == SCHEDULED
    assert (b.c(1).state, b.c(2).state) == ("unavailable", "charging")


def test_unavailable_ends_a_reservation() -> None:
    b = Bench()
    b.reserve(1)
    b.command(cmd.SetAvailability(1, False))
    assert b.events("reservation.ended") == [{"reservation_id": "R1", "reason": "Unavailable"}]


def test_unknown_connector_is_rejected() -> None:
    b = Bench()
    assert b.command(cmd.SetAvailability(5, False)) == cmd.rejected("UnknownConnector")


def test_a_plug_in_on_an_unavailable_connector_starts_nothing() -> None:
    b = Bench()
    b.command(cmd.SetAvailability(1, False))
    b.do("plug")
    assert b.c(1).state == "unavailable"
    b.command(cmd.SetAvailability(1, True))
    assert b.c(1).state == "authenticating"


def test_faulted_connector_made_unavailable_rests_unavailable_after_the_fault() -> None:
    b = Bench()
    b.sim.set_estop(True)
    b.apply([])
    assert b.command(cmd.SetAvailability(1, False)) == cmd.ACCEPTED
    b.sim.set_estop(False)
    b.apply([])
    assert b.c(1).state == "unavailable"
