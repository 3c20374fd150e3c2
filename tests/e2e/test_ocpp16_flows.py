"""CONTRACT 10 against the mobilityhouse `ocpp` library as the CSMS: the seed's flows on
OCPP 1.6J, driven only through OCPP and the control socket."""

from __future__ import annotations

import json

from ocpp.v16 import call

from rig.backend import in_minutes
from rig.csms import Csms
from rig.pile import PileProcess, pilectl


def test_boot_then_every_connector_status(csms: Csms, ocpp_pile: PileProcess) -> None:
    boot = csms.wait("BootNotification")
    assert boot["chargePointSerialNumber"] == "PILE-T1"
    assert csms.paths[0] == "/ocpp/PILE-T1"
    for cid in (0, 1, 2):
        csms.wait("StatusNotification", connectorId=cid, status="Available")
    report = ocpp_pile.status()
    assert report["backend"] == {
        "protocol": "ocpp1.6",
        "peer": csms.url + "/PILE-T1",
        "connected": True,
        "outbox": 0,
    }
    assert [c["ocpp_transaction_id"] for c in report["connectors"]] == [None, None]
    table = pilectl("--config", str(ocpp_pile.config), "status").stdout.splitlines()[0]
    assert table == f"pile PILE-T1  backend: ocpp1.6 {csms.url}/PILE-T1  connected  queue: 0"
    # The whole pile out of service: connector 0 says so too, and back.
    assert csms.call(call.ChangeAvailability(connector_id=0, type="Inoperative")).status == (
        "Accepted"
    )
    csms.wait("StatusNotification", connectorId=0, status="Unavailable")
    csms.call(call.ChangeAvailability(connector_id=0, type="Operative"))
    csms.wait("StatusNotification", connectorId=2, status="Available", after=1)


def test_reserved_code_charge_stop_final_cost_paid_unlock(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    reply = csms.call(
        call.ReserveNow(
            connector_id=1, expiry_date=in_minutes(30), id_tag="246810", reservation_id=7
        )
    )
    assert reply.status == "Accepted"
    csms.wait("StatusNotification", connectorId=1, status="Reserved")
    pile.sim("plug", 1)
    pile.sim("code", 1, "246810")
    start = csms.wait("StartTransaction", connectorId=1, reservationId=7, idTag="246810")
    csms.wait("StatusNotification", connectorId=1, status="Charging")
    pile.wait_until(lambda r: r["connectors"][0]["ocpp_transaction_id"] == 1001)
    pile.sim("clock", "+3600")
    pile.sim("stop-button", 1)
    stop = csms.wait("StopTransaction", transactionId=1001)
    assert stop["reason"] == "Local"
    assert stop["meterStop"] - start["meterStart"] >= 7000
    begin, end = stop["transactionData"]
    assert begin["sampledValue"][0]["value"] == str(start["meterStart"])
    assert end["sampledValue"][0]["value"] == str(stop["meterStop"])
    csms.wait("StatusNotification", connectorId=1, status="Finishing")
    assert pile.status()["connectors"][0]["cable_locked"]

    final = {
        "transactionId": 1001,
        "cost": 9.5,
        "priceText": "9.50 CNY",
        "qrCodeText": "https://pay.example/q/1001",
    }
    reply = csms.call(
        call.DataTransfer(
            vendor_id="org.openchargealliance.costmsg",
            message_id="FinalCost",
            data=json.dumps(final),
        )
    )
    assert reply.status == "Accepted"
    pile.wait_until(lambda r: r["connectors"][0]["cost"] == "9.50")
    wrong = csms.call(
        call.DataTransfer(
            vendor_id="pile-controller",
            message_id="PaymentSettled",
            data=json.dumps({"transactionId": 1001, "amount": "9.40"}),
        )
    )
    assert wrong.status == "Rejected"
    assert pile.status()["connectors"][0]["cable_locked"]
    paid = csms.call(
        call.DataTransfer(
            vendor_id="pile-controller",
            message_id="PaymentSettled",
            data=json.dumps({"transactionId": 1001, "amount": "9.50"}),
        )
    )
    assert paid.status == "Accepted"
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    pile.sim("unplug", 1)
    csms.wait("StatusNotification", connectorId=1, status="Available", after=1)


def test_remote_start_and_stop(csms: Csms, ocpp_pile: PileProcess) -> None:
    pile = ocpp_pile
    pile.sim("plug", 2)
    reply = csms.call(call.RemoteStartTransaction(id_tag="app-bob", connector_id=2))
    assert reply.status == "Accepted"
    csms.wait("StartTransaction", connectorId=2, idTag="app-bob")
    pile.wait_until(lambda r: r["connectors"][1]["ocpp_transaction_id"] == 1001)
    assert csms.call(call.RemoteStopTransaction(transaction_id=1001)).status == "Accepted"
    assert csms.wait("StopTransaction", transactionId=1001)["reason"] == "Remote"
    assert csms.call(call.RemoteStopTransaction(transaction_id=4242)).status == "Rejected"
