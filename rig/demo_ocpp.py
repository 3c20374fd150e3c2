"""The demo on OCPP 1.6J (`scripts/demo --ocpp`): a small local CSMS (the mobilityhouse `ocpp`
library, rig/csms.py) and the daemon on simulated hardware walk the seed's cycle: reserve with a
code -> plug -> type the code -> charge -> stop -> payment QR -> paid -> unlock -> unplug, every
OCPP message printed as it crosses the wire."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from pile_controller.core.times import iso
from rig.csms import Csms
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import ocpp_options

KIND = {2: "CALL", 3: "RESULT", 4: "ERROR"}


def wire(say: Any) -> Any:
    def show(direction: str, frame: list[Any]) -> None:
        who = "pile" if direction == "<" else "csms"
        body = frame[3] if frame[0] == 2 else frame[2:]
        action = f" {frame[2]}" if frame[0] == 2 else ""
        say(who, f"{KIND.get(frame[0], '?')}{action} {json.dumps(body)[:220]}")

    return show


def run(workdir: Path, say: Any) -> None:
    drive(Csms().start(), "ocpp1.6", workdir, say, walk, connectorId=2)


def drive(
    csms: Any,
    protocol: str,
    workdir: Path,
    say: Any,
    walk: Callable[[Any, PileProcess, Any], None],
    **last_status: Any,
) -> None:
    """The daemon on simulated hardware against `csms` (started), every frame printed; once
    the CSMS has `last_status` (the boot's last StatusNotification), the cycle is `walk`ed."""
    csms.listeners.append(wire(say))
    say("demo", f"a CSMS (mobilityhouse ocpp {protocol.removeprefix('ocpp')}) on {csms.url}")
    options = ocpp_options(csms.url, protocol=protocol)
    pile = PileProcess(workdir, 1, connectors=2, display="png", **options)
    try:
        pile.start()
        csms.wait_connected()
        csms.wait("StatusNotification", **last_status)
        walk(csms, pile, say)
    finally:
        pile.stop()
        csms.stop()


def walk(csms: Csms, pile: PileProcess, say: Any) -> None:
    expires = iso(datetime.now(UTC) + timedelta(minutes=30))
    say("demo", "the driver booked connector 1 in the app; the CSMS reserves it with the code")
    csms.call(
        call.ReserveNow(connector_id=1, expiry_date=expires, id_tag="246810", reservation_id=1001)
    )
    say("driver", "arrives at connector 1, plugs in and types the appointment code 246810")
    pile.sim("plug", 1)
    pile.sim("code", 1, "246810")
    csms.wait("StartTransaction", reservationId=1001)
    pile.wait_until(lambda r: r["connectors"][0]["ocpp_transaction_id"] is not None)
    tid = pile.status()["connectors"][0]["ocpp_transaction_id"]
    say("demo", "the vehicle charges at 7 kW; skipping ahead 45 minutes")
    pile.sim("clock", "+2700")
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] >= 5000)
    say("driver", "presses the stop button")
    pile.sim("stop-button", 1)
    csms.wait("StopTransaction", transactionId=tid)
    cost = pile.status()["connectors"][0]["cost"]
    qr = f"https://pay.example.com/ocpp?tx={tid}&amount={cost}"
    say("csms", f"prices the session at {cost} and sends the payment QR code (FinalCost)")
    final = {
        "transactionId": tid,
        "cost": float(cost),
        "priceText": f"{cost} CNY",
        "qrCodeText": qr,
    }
    csms.call(
        call.DataTransfer(
            vendor_id="org.openchargealliance.costmsg",
            message_id="FinalCost",
            data=json.dumps(final),
        )
    )
    say("screen", f"shows the payment QR code: {qr}")
    say("driver", "scans it and pays; the payment provider tells the CSMS")
    paid = {"transactionId": tid, "amount": cost}
    csms.call(
        call.DataTransfer(
            vendor_id="pile-controller", message_id="PaymentSettled", data=json.dumps(paid)
        )
    )
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    say("pile", "cable released")
    say("driver", "unplugs the cable")
    pile.sim("unplug", 1)
    csms.wait("StatusNotification", connectorId=1, status="Available", after=2)
