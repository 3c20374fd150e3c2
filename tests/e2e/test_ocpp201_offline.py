"""Nothing about a transaction is lost or doubled on OCPP 2.0.1 (CONTRACT 11): kill -9s at random
instants through full paid cycles, checked as the CSMS sees them: every transaction's
TransactionEvents arrive in order with a gapless seqNo (a message is sent again only when the
pile was killed between the CSMS's answer and its journaling, and then with the same seqNo),
every Started is Ended, nothing follows an Ended, and the registers bill no more than the
meter counted."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from rig.csms201 import Csms201
from rig.meter import ServedMeter
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import torture

KILLS = int(os.environ.get("OCPP201_KILLS", "40"))
pytestmark = pytest.mark.wall_clock("the daemon is killed at instants of real time")


def test_kill_9_at_random_instants_through_paid_cycles(tmp_path: Path, csms201: Csms201) -> None:
    register_wh = torture(tmp_path, csms201, "ocpp2.0.1", KILLS, act, settle)
    check(csms201, register_wh)


def act(rng: random.Random, pile: PileProcess, csms: Csms201, meter: ServedMeter) -> int:
    """One thing the driver, the vehicle or the CSMS does; 1 if the pile was seen with a cable
    released while its transaction was unpaid."""
    c = pile.status()["connectors"][0]
    if c["state"] == "awaiting_payment" and not c["cable_locked"]:
        return 1
    token = {"id_token": "driver", "type": "Central"}
    try:
        match rng.choice(["start", "draw", "stop", "pay", "unplug", "draw"]):
            case "start" if c["state"] in ("idle", "authenticating"):
                pile.sim("plug", 1)
                start = call.RequestStartTransaction(id_token=token, remote_start_id=1)
                csms.call(start, timeout=3)
            case "draw":
                meter.power_w = 7000.0
                meter.energy_wh += rng.choice([250.0, 500.0, 1000.0])
            case "stop" if c["state"] == "charging" and c["ocpp_transaction_id"]:
                stop = call.RequestStopTransaction(transaction_id=c["ocpp_transaction_id"])
                csms.call(stop, timeout=3)
            case "pay" if c["state"] == "awaiting_payment":
                pay(csms, c, timeout=3)
            case "unplug":
                pile.sim("unplug", 1)
    except Exception:  # the pile was killed under the call, or not yet connected
        pass
    return 0


def pay(csms: Csms201, c: dict[str, Any], timeout: float) -> None:
    data = json.dumps({"transactionId": c["ocpp_transaction_id"], "amount": c["cost"]})
    csms.call(
        call.DataTransfer(vendor_id="pile-controller", message_id="PaymentSettled", data=data),
        timeout=timeout,
    )


def settle(pile: PileProcess, csms: Csms201) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = pile.status()
        c = report["connectors"][0]
        try:
            if c["state"] == "charging":
                stop = call.RequestStopTransaction(transaction_id=c["ocpp_transaction_id"])
                csms.call(stop)
            if c["state"] == "awaiting_payment":
                pay(csms, c, timeout=5)
        except Exception:
            pass
        if (
            c["state"] in ("idle", "unlocked", "authenticating")
            and report["backend"]["outbox"] == 0
        ):
            return
        time.sleep(0.3)
    raise AssertionError(f"the pile never settled: {pile.status()}")


def check(csms: Csms201, register_wh: float) -> None:
    sent: dict[str, list[dict[str, Any]]] = {}
    for event in csms.calls("TransactionEvent"):
        sent.setdefault(event["transactionInfo"]["transactionId"], []).append(event)
    resent = 0
    for tid, events in sent.items():
        numbers = [e["seqNo"] for e in events]
        assert numbers[0] == 0, (tid, numbers)
        steps = [b - a for a, b in zip(numbers, numbers[1:], strict=False)]
        assert set(steps) <= {0, 1}, f"{tid}: seqNo {numbers} has a gap or goes back"
        resent += steps.count(0)
        kinds = [e["eventType"] for e in events]
        assert kinds[0] == "Started" and kinds[-1] == "Ended", (tid, kinds)
        first_end = kinds.index("Ended")
        assert set(kinds[first_end:]) == {"Ended"}, f"{tid}: a message after its Ended"
        ends = [e for e in events if e["eventType"] == "Ended"]
        assert all(e["meterValue"] == ends[0]["meterValue"] for e in ends), "two different Ends"
        begin = events[0]["meterValue"][0]["sampledValue"][0]["value"]
        end = ends[0]["meterValue"][0]["sampledValue"][0]["value"]
        assert 1_000_000 <= begin <= end <= register_wh
    print(f"ocpp 2.0.1 torture: {len(sent)} transactions, {resent} messages sent again")
    assert sent, "no session ever started"
