"""The demo on OCPP 2.0.1 (`scripts/demo --ocpp 2.0.1`): the mobilityhouse `ocpp` library's v201
as a small local CSMS (rig/csms201.py) and the daemon on simulated hardware walk the seed's
cycle: ReserveNow with a KeyCode -> plug -> type the code -> TransactionEvents -> stop ->
totalCost and a SetDisplayMessage URI as the payment QR code -> paid -> unlock -> unplug, every
OCPP message printed as it crosses the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v201 import call

from pile_controller.core.times import iso
from rig.csms201 import Csms201
from rig.demo_ocpp import drive
from rig.pile import PileProcess


def run(workdir: Path, say: Any) -> None:
    csms = Csms201().start()
    csms.total_cost["Ended"] = 10.0  # the CSMS's price of the session, in the Ended's answer
    drive(csms, "ocpp2.0.1", workdir, say, walk, evseId=2)


def walk(csms: Csms201, pile: PileProcess, say: Any) -> None:
    expires = iso(datetime.now(UTC) + timedelta(minutes=30))
    say("demo", "the driver booked connector 1 in the app; the CSMS reserves it with the code")
    code = {"id_token": "246810", "type": "KeyCode"}
    csms.call(call.ReserveNow(id=1001, expiry_date_time=expires, id_token=code, evse_id=1))
    say("driver", "arrives at connector 1, plugs in and types the appointment code 246810")
    pile.sim("plug", 1)
    pile.sim("code", 1, "246810")
    started = csms.wait("TransactionEvent", eventType="Started", reservationId=1001)
    tid = started["transactionInfo"]["transactionId"]
    say("demo", "the vehicle charges at 7 kW; skipping ahead 45 minutes")
    pile.sim("clock", "+2700")
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] >= 5000)
    say("driver", "presses the stop button")
    pile.sim("stop-button", 1)
    csms.wait("TransactionEvent", eventType="Ended")
    pile.wait_until(lambda r: r["connectors"][0]["cost"] == "10.00")
    qr = f"https://pay.example.com/ocpp201?tx={tid}"
    say("csms", "priced the session at 10.00 (totalCost) and sends the payment QR code")
    message = {
        "id": 1,
        "priority": "InFront",
        "transaction_id": tid,
        "message": {"format": "URI", "content": qr},
    }
    csms.call(call.SetDisplayMessage(message=message))
    say("screen", f"shows the payment QR code: {qr}")
    say("driver", "scans it and pays; the payment provider tells the CSMS")
    paid = {"transactionId": tid, "amount": "10.00"}
    csms.call(
        call.DataTransfer(
            vendor_id="pile-controller", message_id="PaymentSettled", data=json.dumps(paid)
        )
    )
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    say("pile", "cable released")
    say("driver", "unplugs the cable")
    pile.sim("unplug", 1)
    csms.wait("StatusNotification", evseId=1, connectorStatus="Available", after=2)
