"""A technician's relay and lock tests (CONTRACT 9.4) on the simulated pile behind the
interlock: the core holds the connector under test, the interlock lets the relay close with no
vehicle only for the test, and no check, passed or failed, latches a fault by itself."""

from hal.trials import lock_trial, relay_trial
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from rig.bench import Bench


def test_a_relay_test_closes_and_opens_with_no_vehicle_and_latches_nothing() -> None:
    b = Bench()
    assert b.pile.begin_test(1, b.now) == cmd.ACCEPTED
    check = relay_trial(b.hardware, 1, 200)
    b.apply([])  # the core hears the feedback of a relay it did not command
    b.advance(2)  # past the feedback deadline
    assert check.ok and set(check.figures) == {"closed_ms", "opened_ms"}, check
    assert [e.what for e in b.sim.history.of("relay1")][-2:] == ["closed", "opened"]
    b.apply(b.pile.end_test(1, b.now))
    b.advance(2)
    assert b.c(1).faults == {} and b.hardware.refused == []


def test_outside_a_test_the_interlock_still_refuses_a_close_with_no_vehicle() -> None:
    b = Bench()
    b.hardware.begin_test(1)
    b.hardware.end_test(1)
    assert b.hardware.test_close(1) == "no vehicle connected"
    b.hardware.connectors[1].relay.close()
    assert b.hardware.refused == [(1, "no vehicle connected")]
    assert b.sim.history.of("relay1") == []


def test_a_vehicle_arriving_ends_the_tests_close_at_once() -> None:
    b = Bench()
    b.pile.begin_test(1, b.now)
    b.hardware.begin_test(1)
    assert b.hardware.test_close(1) is None
    b.sim.plug(1)
    assert b.sim.history.of("relay1")[-1].what == "opened"
    assert b.hardware.end_test(1) == "a vehicle is connected"


def test_no_session_begins_on_a_connector_under_test() -> None:
    b = Bench()
    b.pile.begin_test(1, b.now)
    b.do("plug", 1)
    assert b.command(cmd.RemoteStart(1, "driver")) == cmd.ACCEPTED
    b.advance(1)
    assert b.c(1).state == "authenticating" and not b.cable_locked()
    b.apply(b.pile.end_test(1, b.now))
    b.advance(1)
    assert b.c(1).state == "charging"


def test_a_jammed_lock_fails_its_check_and_is_no_fault_afterwards() -> None:
    b = Bench()
    b.do("jam_lock", 1, True)
    b.pile.begin_test(1, b.now)
    check = lock_trial(b.hardware, 1, 50)
    b.apply(b.pile.end_test(1, b.now))
    b.advance(5)
    assert (check.ok, check.detail) == (False, "the feedback did not show locked within 50 ms")
    assert b.c(1).faults == {}


def test_a_contactor_left_closed_by_the_test_is_found_welded_by_the_supervision() -> None:
    b = Bench()
    b.pile.begin_test(1, b.now)
    relay_trial(b.hardware, 1, 50)
    b.do("weld", 1, True)  # stuck closed as the test opened it
    b.advance(5)
    assert b.c(1).faults == {}, "nobody's fault while the test holds it"
    b.apply(b.pile.end_test(1, b.now))
    b.advance(1)
    assert list(b.c(1).faults) == ["RelayWelded"]


def test_a_test_is_refused_with_a_vehicle_a_session_a_fault_or_another_test() -> None:
    b = Bench()
    b.pile.begin_test(2, b.now)
    assert b.pile.begin_test(2, b.now) == cmd.rejected("a test is already running on it")
    b.do("plug", 1)
    assert b.pile.begin_test(1, b.now) == cmd.rejected("a vehicle is connected")
    b.sim.set_estop(True)
    b.apply([])
    b.do("unplug", 1)
    assert b.pile.begin_test(1, b.now) == cmd.rejected("fault EmergencyStop is active")
    assert b.pile.begin_test(9, b.now) == cmd.rejected("no such connector")
    b.sim.set_estop(False)
    b.apply([])
    assert b.command(cmd.RemoteStart(1, "driver")) == cmd.ACCEPTED
    assert b.pile.begin_test(1, b.now) == cmd.rejected("the connector is authenticating")


def test_the_tests_feedback_at_boot_is_not_the_boots_welded_contactor() -> None:
    b = Bench()
    b.pile.begin_test(1, b.now)
    b.feed(ev.RelayFeedback(1, True))  # as the test's close reports, before anything else moved
    assert b.c(1).faults == {}
