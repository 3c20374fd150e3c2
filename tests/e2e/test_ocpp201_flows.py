"""CONTRACT 11 against the mobilityhouse `ocpp` library's v201 as the CSMS: the seed's flows on
OCPP 2.0.1, driven only through OCPP and the control socket."""

from __future__ import annotations

import json
from typing import Any

from ocpp.v201 import call

from rig.backend import in_minutes
from rig.csms201 import Csms201
from rig.pile import PileProcess
from rig.qr import shows


def events(csms: Csms201, **fields: Any) -> list[dict[str, Any]]:
    return [
        e for e in csms.calls("TransactionEvent") if all(e.get(k) == v for k, v in fields.items())
    ]


def key_code(code: str) -> dict[str, str]:
    return {"id_token": code, "type": "KeyCode"}


def test_boot_then_every_evse_status(csms201: Csms201, ocpp201_pile: PileProcess) -> None:
    boot = csms201.wait("BootNotification")
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["serialNumber"] == "PILE-T1"
    for cid in (1, 2):
        csms201.wait("StatusNotification", evseId=cid, connectorId=cid, connectorStatus="Available")
    report = ocpp201_pile.status()
    assert report["backend"]["protocol"] == "ocpp2.0.1" and report["backend"]["connected"]
    reply = csms201.call(call.ChangeAvailability(operational_status="Inoperative", evse={"id": 2}))
    assert reply.status == "Accepted"
    csms201.wait("StatusNotification", evseId=2, connectorStatus="Unavailable")
    assert ocpp201_pile.stop() == 0
    assert "Traceback" not in ocpp201_pile.logs()  # a clean stop, the connection's tasks too


def test_reserved_code_charge_stop_total_cost_uri_paid_unlock(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    csms.total_cost["Ended"] = 9.5
    reply = csms.call(
        call.ReserveNow(
            id=7, expiry_date_time=in_minutes(30), id_token=key_code("246810"), evse_id=1
        )
    )
    assert reply.status == "Accepted"
    csms.wait("StatusNotification", evseId=1, connectorStatus="Reserved")
    pile.sim("plug", 1)
    pile.sim("code", 1, "246810")
    started = csms.wait("TransactionEvent", eventType="Started")
    assert started["idToken"] == {"idToken": "246810", "type": "KeyCode"}
    assert started["reservationId"] == 7 and started["seqNo"] == 0
    assert started["triggerReason"] == "Authorized"
    tid = started["transactionInfo"]["transactionId"]
    meter_start = started["meterValue"][0]["sampledValue"][0]["value"]
    csms.wait("StatusNotification", evseId=1, connectorStatus="Occupied")
    pile.wait_until(lambda r: r["connectors"][0]["ocpp_transaction_id"] == tid)
    pile.sim("clock", "+3600")
    pile.sim("stop-button", 1)
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    meter_stop = ended["meterValue"][0]["sampledValue"][0]["value"]
    assert meter_stop - meter_start >= 7000
    # seqNo: gapless from 0, Started to Ended.
    seq = [e["seqNo"] for e in events(csms) if e["transactionInfo"]["transactionId"] == tid]
    assert seq == list(range(len(seq))) and len(seq) >= 2
    # totalCost in the Ended's answer is the bill; the SetDisplayMessage URI is the QR code.
    pile.wait_until(lambda r: r["connectors"][0]["cost"] == "9.50")
    screen = pile.state / "screen-1.png"
    own = pile.status()["connectors"][0]["transaction_id"]
    shows(screen, f"https://pay.example.com/p?pile=PILE-T1&tx={own}&amount=9.50&cur=CNY")
    uri = "https://pay.example/q/" + tid
    shown = csms.call(
        call.SetDisplayMessage(
            message={
                "id": 1,
                "priority": "InFront",
                "transaction_id": tid,
                "message": {"format": "URI", "content": uri},
            }
        )
    )
    assert shown.status == "Accepted"
    shows(screen, uri)
    listed = csms.call(call.GetDisplayMessages(request_id=3))
    assert listed.status == "Accepted"
    told = csms.wait("NotifyDisplayMessages", requestId=3)
    assert told["messageInfo"][0]["message"]["content"] == uri
    assert pile.status()["connectors"][0]["cable_locked"]
    wrong = csms.call(
        call.DataTransfer(
            vendor_id="pile-controller",
            message_id="PaymentSettled",
            data=json.dumps({"transactionId": tid, "amount": "9.40"}),
        )
    )
    assert wrong.status == "Rejected"
    paid = csms.call(
        call.DataTransfer(
            vendor_id="pile-controller",
            message_id="PaymentSettled",
            data=json.dumps({"transactionId": tid, "amount": "9.50"}),
        )
    )
    assert paid.status == "Accepted"
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    pile.sim("unplug", 1)
    csms.wait("StatusNotification", evseId=1, connectorStatus="Available", after=1)


def test_remote_start_with_a_cost_cap_stops_at_the_cap(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    pile.sim("plug", 2)
    limit = {"vendorId": "pile-controller", "transactionLimit": {"maxCost": 1.5}}
    reply = csms.call(
        call.RequestStartTransaction(
            id_token={"id_token": "app-bob", "type": "Central"},
            remote_start_id=42,
            evse_id=2,
            custom_data=limit,
        )
    )
    assert reply.status == "Accepted"
    started = csms.wait("TransactionEvent", eventType="Started")
    assert started["transactionInfo"]["remoteStartId"] == 42
    assert started["triggerReason"] == "RemoteStart"
    assert started["idToken"] == {"idToken": "app-bob", "type": "Central"}
    pile.sim("clock", "+3600")  # far past the cap: the next reading stops it
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "LocalOutOfCredit"
    pile.wait_until(lambda r: r["connectors"][1]["cost"] == "1.50")


def test_request_stop_and_a_cap_of_zero(csms201: Csms201, ocpp201_pile: PileProcess) -> None:
    csms, pile = csms201, ocpp201_pile
    pile.sim("plug", 1)
    zero = {"vendorId": "pile-controller", "transactionLimit": {"maxEnergy": 0}}
    refused = csms.call(
        call.RequestStartTransaction(
            id_token={"id_token": "app", "type": "Central"}, remote_start_id=1, custom_data=zero
        )
    )
    assert refused.status == "Rejected"
    app = {"id_token": "app", "type": "Central"}
    reply = csms.call(call.RequestStartTransaction(id_token=app, remote_start_id=2))
    assert reply.status == "Accepted"
    tid = csms.wait("TransactionEvent", eventType="Started")["transactionInfo"]["transactionId"]
    assert csms.call(call.RequestStopTransaction(transaction_id=tid)).status == "Accepted"
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert ended["triggerReason"] == "RemoteStop"
    assert csms.call(call.RequestStopTransaction(transaction_id="nope")).status == "Rejected"


def test_a_reservation_cancelled_or_expired(csms201: Csms201, ocpp201_pile: PileProcess) -> None:
    csms, pile = csms201, ocpp201_pile
    wrong_type = {"id_token": "246810", "type": "ISO14443"}  # a card is not a typed code
    reply = csms.call(call.ReserveNow(id=1, expiry_date_time=in_minutes(30), id_token=wrong_type))
    assert reply.status == "Rejected"
    for rid, evse in ((2, 1), (3, 2)):
        reply = csms.call(
            call.ReserveNow(
                id=rid, expiry_date_time=in_minutes(30), id_token=key_code("1357"), evse_id=evse
            )
        )
        assert reply.status == "Accepted"
        csms.wait("StatusNotification", evseId=evse, connectorStatus="Reserved")
    assert csms.call(call.CancelReservation(reservation_id=2)).status == "Accepted"
    assert csms.call(call.CancelReservation(reservation_id=2)).status == "Rejected"
    csms.wait("StatusNotification", evseId=1, connectorStatus="Available", after=1)
    pile.sim("clock", "+1860")
    update = csms.wait("ReservationStatusUpdate", reservationId=3)
    assert update["reservationUpdateStatus"] == "Expired"
    assert len(csms.calls("ReservationStatusUpdate")) == 1  # a cancelled one is not told
    csms.wait("StatusNotification", evseId=2, connectorStatus="Available", after=1)
