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
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from rig.csms201 import Csms201
from rig.meter import ServedMeter
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import ocpp_options

KILLS = int(os.environ.get("OCPP201_KILLS", "40"))
pytestmark = pytest.mark.wall_clock("the daemon is killed at instants of real time")


def test_kill_9_at_random_instants_through_paid_cycles(tmp_path: Path, csms201: Csms201) -> None:
    csms = csms201
    seed = int(os.environ.get("TORTURE_SEED", random.randrange(2**32)))
    print(f"ocpp 2.0.1 torture seed: {seed} (TORTURE_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    meter = ServedMeter("sdm630")
    port = meter.serve_tcp()
    line = f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", port = {port} }}'
    options = ocpp_options(csms.url, protocol="ocpp2.0.1")
    pile = PileProcess(tmp_path, 1, connectors=1, meters={1: line}, interval_s=1, **options)
    pile.measured = False  # killed again and again: nothing it measures is ever saved
    unpaid_releases = 0
    try:
        for kill in range(KILLS + 1):
            pile.start()
            csms.wait_connected()
            for _ in range(rng.randint(1, 4)):
                unpaid_releases += act(rng, pile, csms, meter)
                time.sleep(rng.uniform(0, 0.05))
            if kill == KILLS:
                break
            time.sleep(rng.uniform(0, 0.15))
            pile.stop(signal.SIGKILL)
            csms.station = None
        settle(pile, csms)
    finally:
        if pile.process is not None:
            pile.stop(signal.SIGKILL)
        meter.stop()
    assert unpaid_releases == 0, "a cable was released unpaid"
    check(csms, meter.energy_wh)


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
