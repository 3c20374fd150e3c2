"""The control pilot and current limits end to end (CONTRACT 9.2): the daemon as a process on
simulated hardware, a real mosquitto, driven through MQTT and pilectl only."""

from typing import Any

from tests.e2e.test_link import charge


def test_the_vehicle_pauses_and_resumes_in_the_same_transaction(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    be.status(1, state="charging", status="Charging", cp="C", current_limit_a=32.0, pp_a=32)
    mark = be.mark()
    pile.sim("ev-power", 1, 0)  # the battery is full for now: C -> B
    be.status(1, status="SuspendedEV", cp="B", current_limit_a=32.0, since=mark)
    assert not pile.status()["connectors"][0]["relay_closed"]
    pile.sim("clock", "+60")
    mark = be.mark()
    pile.sim("ev-power", 1, 7000)
    be.status(1, state="charging", cp="C", transaction_id=tx, since=mark)
    pile.wait_until(lambda r: r["connectors"][0]["relay_closed"])
    assert not [e for e in be.events() if e["type"] == "transaction.stopped"]


def test_a_13_amp_cable_limits_what_the_pilot_offers(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.sim("pp", 1, 13)
    charge(rig)
    be.status(1, state="charging", cp="C", current_limit_a=13.0, pp_a=13)


def test_a_backend_limit_of_10_then_0_then_removed(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    assert be.ask("limit", connector=1, max_current_a=10)["status"] == "Accepted"
    be.status(1, current_limit_a=10.0, cp="C")
    assert be.ask("limit", connector=1, max_current_a=0)["status"] == "Accepted"
    be.status(1, state="charging", status="SuspendedEVSE", current_limit_a=None, transaction_id=tx)
    pile.wait_until(lambda r: not r["connectors"][0]["relay_closed"])
    assert be.ask("limit", connector=1, max_current_a=None)["status"] == "Accepted"
    be.status(1, status="Charging", current_limit_a=32.0, cp="C", transaction_id=tx)


def test_two_connectors_share_32_amps_then_one_gets_its_full_limit(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    assert be.ask("limit", connector=0, max_current_a=32)["status"] == "Accepted"
    pile.sim("ev-power", 1, 22000)
    pile.sim("ev-power", 2, 22000)
    charge(rig, 1)
    tx2 = charge(rig, 2)
    be.status(1, current_limit_a=16.0)
    be.status(2, current_limit_a=16.0)
    assert be.ask("stop", transaction_id=tx2)["status"] == "Accepted"
    be.status(1, current_limit_a=32.0)


def test_a_pilot_short_while_charging_is_a_pilot_fault_and_bills(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    pile.sim("clock", "+600")
    pile.sim("cp", 1, "E")
    be.event("fault.raised", code="PilotFault")
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert stopped["reason"] == "Other" and stopped["energy_wh"] > 1000
    report = pile.status()["connectors"][0]
    assert (report["state"], report["relay_closed"], report["cable_locked"]) == (
        "faulted",
        False,
        True,
    )
    pile.sim("cp", 1, "B")
    be.event("fault.cleared", code="PilotFault")
    be.status(1, state="awaiting_payment")


def test_a_missing_diode_while_charging_is_a_pilot_fault(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    pile.sim("diode", 1, "off")
    be.event("fault.raised", code="PilotFault")
    be.event("transaction.stopped", transaction_id=tx)
    assert not pile.status()["connectors"][0]["relay_closed"]


def test_unplugging_while_charging_keeps_a_socket_cable_locked_until_paid(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    pile.sim("clock", "+600")
    pile.sim("unplug", 1)
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert stopped["reason"] == "EVDisconnected"
    be.status(1, state="awaiting_payment", cp="A", pp_a=None)
    assert pile.status()["connectors"][0]["cable_locked"]


def test_a_limit_survives_a_restart(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    assert be.ask("limit", connector=1, max_current_a=10)["status"] == "Accepted"
    pile.stop()
    pile.start()
    charge(rig)
    be.status(1, state="charging", current_limit_a=10.0)


def test_a_limit_for_an_unknown_connector_or_negative_is_refused(rig: Any) -> None:
    be = rig.backend
    unknown = be.ask("limit", connector=9, max_current_a=10)
    assert (unknown["status"], unknown["reason"]) == ("Rejected", "UnknownConnector")
    negative = be.ask("limit", connector=1, max_current_a=-1)
    assert (negative["status"], negative["reason"]) == ("Rejected", "InvalidPayload")
