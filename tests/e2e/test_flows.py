"""Both flows of CONTRACT §6, driven only through MQTT and the control socket."""

from typing import Any

from rig.backend import in_minutes


def test_reserved_user_reserve_code_charge_stop_pay_unlock_unplug(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    reply = be.ask(
        "reserve",
        connector=1,
        reservation_id="R1",
        code="246810",
        id_token="alice",
        expires_at=in_minutes(30),
    )
    assert reply["status"] == "Accepted"
    be.status(1, state="reserved", status="Reserved", reservation_id="R1")

    pile.sim("plug", 1)
    be.status(1, state="authenticating", status="Preparing")
    pile.sim("code", 1, "246810")
    started = be.event("transaction.started", reservation_id="R1", id_token="alice")
    tx = started["data"]["transaction_id"]
    be.status(1, state="charging", transaction_id=tx)
    be.event("reservation.ended", reservation_id="R1", reason="Used")
    connector = pile.status()["connectors"][0]
    assert connector["relay_closed"] and connector["cable_locked"]

    be.event("meter.values", transaction_id=tx, context="Transaction.Begin")
    pile.sim("clock", "+3600")  # an hour at 7 kW
    pile.sim("stop-button", 1)
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert stopped["reason"] == "Local"
    assert stopped["energy_wh"] == stopped["meter_stop_wh"] - stopped["meter_start_wh"]
    assert 7000 <= stopped["energy_wh"] <= 7000 + 7 * 5  # plus the few real seconds around it
    request = be.event("payment.requested", transaction_id=tx)["data"]
    assert request["amount"] == stopped["cost"]["total"]
    assert (
        f"tx={tx}" in request["qr_payload"]
        and f"amount={request['amount']}" in request["qr_payload"]
    )
    be.status(1, state="awaiting_payment", status="Finishing")
    assert pile.status()["connectors"][0]["cable_locked"]

    paid = be.ask("payment", transaction_id=tx, status="paid", amount=request["amount"])
    assert paid["status"] == "Accepted"
    be.event("payment.settled", transaction_id=tx, how="Paid")
    be.event("cable.unlocked", transaction_id=tx)
    be.status(1, state="unlocked")
    assert not pile.status()["connectors"][0]["cable_locked"]
    mark = be.mark()
    pile.sim("unplug", 1)
    be.status(1, state="idle", status="Available", since=mark)

    seqs = [e["seq"] for e in be.events()]
    assert seqs == list(range(1, len(seqs) + 1)), "seq starts at 1 and has no gaps"


def test_walk_up_user_plug_scan_start_remote_stop(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.sim("plug", 2)
    be.status(2, state="authenticating")
    assert be.ask("start", connector=2, id_token="app-bob")["status"] == "Accepted"
    tx = be.event("transaction.started", id_token="app-bob")["data"]["transaction_id"]
    be.status(2, state="charging")
    assert be.ask("stop", transaction_id=tx)["status"] == "Accepted"
    assert be.event("transaction.stopped", transaction_id=tx)["data"]["reason"] == "Remote"


def test_a_start_with_the_driver_s_cap_stops_there_and_bills_no_more(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.sim("plug", 1)
    assert be.ask("start", connector=1, id_token="x", max_energy_wh=0)["reason"] == (
        "InvalidPayload"
    )
    reply = be.ask("start", connector=1, id_token="x", max_cost="1.50", max_energy_wh=50_000)
    assert reply["status"] == "Accepted"
    tx = be.event("transaction.started")["data"]["transaction_id"]
    pile.wait_until(lambda r: r["connectors"][0]["relay_closed"])
    pile.sim("clock", "+3600")  # an hour's energy costs far more than 1.50
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert stopped["reason"] == "CostLimitReached"
    assert stopped["cost"]["total"] == "1.50"
    assert stopped["receipt"]["cap"] == {"max_cost": "1.50", "max_energy_wh": 50_000}
    assert be.event("payment.requested", transaction_id=tx)["data"]["amount"] == "1.50"


def test_vehicle_unplug_stops_with_ev_disconnected(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.sim("plug", 1)
    be.ask("start", connector=1, id_token="x")
    tx = be.event("transaction.started")["data"]["transaction_id"]
    pile.sim("unplug", 1)
    assert be.event("transaction.stopped", transaction_id=tx)["data"]["reason"] == "EVDisconnected"
    assert not pile.status()["connectors"][0]["relay_closed"]


def lock_out(rig: Any, code: str, wrong: str) -> None:
    """Reserves connector 1 with `code` (a rig made with max_attempts=3), plugs in, and types
    `wrong` three times: the keypad is locked out."""
    rig.backend.ask(
        "reserve",
        connector=1,
        reservation_id="R1",
        code=code,
        id_token="u",
        expires_at=in_minutes(60),
    )
    rig.pile.sim("plug", 1)
    for _ in range(3):
        rig.pile.sim("code", 1, wrong)


def test_wrong_codes_then_lockout(make_rig: Any) -> None:
    rig = make_rig(max_attempts=3, lockout_s=300)
    be, pile = rig.backend, rig.pile
    lock_out(rig, code="1111", wrong="9999")
    pile.sim("code", 1, "1111")
    locked = be.event("authorization.rejected", reason="LockedOut")
    rejected = [e["data"] for e in be.events() if e["type"] == "authorization.rejected"]
    assert [r["attempts_left"] for r in rejected] == [2, 1, 0, 0]
    assert "1111" not in str(locked) and "9999" not in str(rejected)
    pile.sim("clock", "+300")
    pile.sim("code", 1, "1111")
    be.event("transaction.started", reservation_id="R1")


def test_reservation_expires(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    be.ask(
        "reserve",
        connector=1,
        reservation_id="R9",
        code="1234",
        id_token="u",
        expires_at=in_minutes(10),
    )
    mark = be.mark()
    pile.sim("clock", "+601")
    be.event("reservation.ended", reservation_id="R9", reason="Expired", since=mark)
    be.status(1, state="idle", reservation_id=None, since=mark)


def test_cancel_replace_and_occupied(rig: Any) -> None:
    be = rig.backend
    common = {"id_token": "u", "expires_at": in_minutes(30)}
    assert (
        be.ask("reserve", connector=1, reservation_id="A", code="1234", **common)["status"]
        == "Accepted"
    )
    assert (
        be.ask("reserve", connector=1, reservation_id="B", code="1234", **common)["status"]
        == "Occupied"
    )
    assert (
        be.ask("reserve", connector=1, reservation_id="A", code="5678", **common)["status"]
        == "Accepted"
    )
    be.event("reservation.ended", reservation_id="A", reason="Replaced")
    assert be.ask("cancel_reservation", reservation_id="A")["status"] == "Accepted"
    be.event("reservation.ended", reservation_id="A", reason="Cancelled")
    reply = be.ask("cancel_reservation", reservation_id="A")
    assert reply == {
        "v": 1,
        "id": reply["id"],
        "status": "Rejected",
        "reason": "UnknownReservation",
    }


def test_connector_zero_reserves_any_free_connector(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.sim("plug", 1)
    be.status(1, state="authenticating")
    assert (
        be.ask(
            "reserve",
            connector=0,
            reservation_id="Z",
            code="1234",
            id_token="u",
            expires_at=in_minutes(30),
        )["status"]
        == "Accepted"
    )
    be.status(2, state="reserved", reservation_id="Z")


def test_availability_is_scheduled_while_charging(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.sim("plug", 1)
    be.ask("start", connector=1, id_token="x")
    tx = be.event("transaction.started")["data"]["transaction_id"]
    assert be.ask("availability", connector=0, available=False)["status"] == "Scheduled"
    be.status(2, state="unavailable", status="Unavailable")
    pile.sim("clock", "+600")
    be.ask("stop", transaction_id=tx)
    be.event("transaction.stopped", transaction_id=tx)
    assert be.ask("unlock", connector=1)["status"] == "Accepted"  # technician release
    be.event("payment.settled", transaction_id=tx, how="ReleasedByTechnician")
    pile.sim("unplug", 1)
    be.status(1, state="unavailable")
    mark = be.mark()
    assert be.ask("availability", connector=0, available=True)["status"] == "Accepted"
    be.status(1, state="idle", since=mark)


def test_sigterm_stops_running_sessions_with_reboot_bills_them_and_says_offline(
    rig: Any,
) -> None:
    """What systemd's stop (or a reboot) does to a pile in use: no session is left open."""
    be, pile = rig.backend, rig.pile
    pile.sim("plug", 1)
    assert be.ask("start", connector=1, id_token="app-user")["status"] == "Accepted"
    tx = be.event("transaction.started")["data"]["transaction_id"]
    pile.sim("clock", "+1800")  # half an hour at 7 kW
    mark = be.mark()
    assert pile.stop() == 0
    stopped = be.event("transaction.stopped", transaction_id=tx, since=mark)["data"]
    assert stopped["reason"] == "Reboot"
    assert stopped["energy_wh"] >= 3500 and stopped["cost"]["total"] != "0.00"
    be.event("payment.requested", transaction_id=tx, since=mark)
    assert be.online(online=False)["online"] is False
