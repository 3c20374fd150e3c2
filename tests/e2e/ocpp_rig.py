"""The pile speaking OCPP 1.6J to a central system we did not write (rig/csms.py,
rig/strict_csms.py)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from rig.csms import Csms
from rig.meter import ServedMeter
from rig.pile import PileProcess
from rig.strict_csms import StrictCsms


def ocpp_options(
    url: str, extra: str = "", protocol: str = "ocpp1.6", **options: Any
) -> dict[str, Any]:
    """PileProcess options for a pile whose CSMS is at `url` (`extra`: more [ocpp] lines)."""
    return {
        **options,
        "backend_extra": f'protocol = "{protocol}"\n\n[ocpp]\nurl = "{url}"\n{extra}',
    }


def charging(csms: Csms, pile: PileProcess, cid: int, id_tag: str = "t") -> None:
    """A vehicle plugged into `cid` and started remotely by the CSMS, charging."""
    pile.sim("plug", cid)
    assert csms.call(call.RemoteStartTransaction(id_tag=id_tag, connector_id=cid)).status == (
        "Accepted"
    )
    # Power flows (the relay closed): a clock moved on from here is energy.
    pile.wait_until(lambda r: r["connectors"][cid - 1]["relay_closed"])


@contextlib.contextmanager
def strict_pile(tmp_path: Path, protocol: str) -> Iterator[tuple[StrictCsms, PileProcess]]:
    """A two-connector pile speaking `protocol` to ocpp-rpc in strict mode, metering every
    second; on the way out, not one message of either side may have broken the schemas."""
    csms = StrictCsms(protocol).start()
    options = ocpp_options(csms.url, protocol=protocol)
    pile = PileProcess(tmp_path, 1, connectors=2, interval_s=1, **options)
    pile.start()
    try:
        assert csms.connected.wait(10)
        yield csms, pile
    finally:
        pile.stop()
        csms.stop()
    assert csms.breaches == [], pile.logs()


def outage_with_a_kill_inside(csms: Csms, pile: PileProcess) -> str:
    """Connector 1 charges through a CSMS outage, is stopped, and the pile dies (kill -9)
    inside the outage with the samples and the stop queued; it starts again, then the CSMS
    comes back. The cost the pile then asks for."""
    csms.go_away()
    pile.sim("clock", "+900")
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] >= 1700)
    pile.sim("clock", "+120")  # the held samples are committed
    pile.sim("stop-button", 1)
    pile.wait_until(lambda r: r["connectors"][0]["state"] == "awaiting_payment")
    assert pile.status()["backend"]["outbox"] >= 2  # samples and the stop, queued
    pile.stop(signal.SIGKILL)
    pile.start()
    cost = str(pile.status()["connectors"][0]["cost"])
    csms.come_back()
    return cost


@dataclass(frozen=True)
class Moves:
    """What a CSMS does in a torture, in its OCPP version's messages."""

    start: Callable[[], Any]  # a remote start on connector 1
    stop: Callable[[Any], Any]  # a remote stop of the CSMS's transaction id
    data_transfer: Callable[..., Any]  # the version's DataTransfer CALL


def torture(
    tmp_path: Path,
    csms: Csms,
    protocol: str,
    kills: int,
    moves: Moves,
) -> float:
    """A pile metered by a served SDM630, killed -9 `kills` times at random instants (seeded:
    TORTURE_SEED repeats a run), each life seeing the driver, the vehicle or the CSMS (its
    `moves`) act one to four times, then settled: every session stopped and paid. The meter's
    register, Wh."""
    seed = int(os.environ.get("TORTURE_SEED", random.randrange(2**32)))
    print(f"{protocol} torture seed: {seed} (TORTURE_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    meter = ServedMeter("sdm630")
    port = meter.serve_tcp()
    line = f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", port = {port} }}'
    options = ocpp_options(csms.url, protocol=protocol)
    pile = PileProcess(tmp_path, 1, connectors=1, meters={1: line}, interval_s=1, **options)
    pile.measured = False  # killed again and again: nothing it measures is ever saved
    unpaid_releases = 0
    try:
        for kill in range(kills + 1):
            pile.start()
            csms.wait_connected()
            for _ in range(rng.randint(1, 4)):
                unpaid_releases += act(rng, pile, csms, meter, moves)
                time.sleep(rng.uniform(0, 0.05))
            if kill == kills:
                break
            time.sleep(rng.uniform(0, 0.15))
            pile.stop(signal.SIGKILL)
            csms.station = None
        settle(pile, csms, moves)
    finally:
        if pile.process is not None:
            pile.stop(signal.SIGKILL)
        meter.stop()
    assert unpaid_releases == 0, "a cable was released unpaid"
    return meter.energy_wh


def act(rng: random.Random, pile: PileProcess, csms: Csms, meter: ServedMeter, moves: Moves) -> int:
    """One thing the driver, the vehicle or the CSMS does; 1 if the pile was seen with a cable
    released while its transaction was unpaid."""
    c = pile.status()["connectors"][0]
    if c["state"] == "awaiting_payment" and not c["cable_locked"]:
        return 1
    try:
        match rng.choice(["start", "draw", "stop", "pay", "unplug", "draw"]):
            case "start" if c["state"] in ("idle", "authenticating"):
                pile.sim("plug", 1)
                csms.call(moves.start(), timeout=3)
            case "draw":
                meter.power_w = 7000.0
                meter.energy_wh += rng.choice([250.0, 500.0, 1000.0])
            case "stop" if c["state"] == "charging" and c["ocpp_transaction_id"]:
                csms.call(moves.stop(c["ocpp_transaction_id"]), timeout=3)
            case "pay" if c["state"] == "awaiting_payment" and c["ocpp_transaction_id"]:
                pay(csms, moves, c, timeout=3)
            case "unplug":
                pile.sim("unplug", 1)
    except Exception:  # the pile was killed under the call, or not yet connected
        pass
    return 0


def pay(csms: Csms, moves: Moves, c: dict[str, Any], timeout: float) -> None:
    data = json.dumps({"transactionId": c["ocpp_transaction_id"], "amount": c["cost"]})
    paid = moves.data_transfer(vendor_id="pile-controller", message_id="PaymentSettled", data=data)
    csms.call(paid, timeout=timeout)


def settle(pile: PileProcess, csms: Csms, moves: Moves) -> None:
    """Stops and pays what runs until the pile rests with nothing queued."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = pile.status()
        c = report["connectors"][0]
        try:
            if c["state"] == "charging" and c["ocpp_transaction_id"]:
                csms.call(moves.stop(c["ocpp_transaction_id"]))
            if c["state"] == "awaiting_payment" and c["ocpp_transaction_id"]:
                pay(csms, moves, c, timeout=5)
        except Exception:
            pass
        if (
            c["state"] in ("idle", "unlocked", "authenticating")
            and report["backend"]["outbox"] == 0
        ):
            return
        time.sleep(0.3)
    raise AssertionError(f"the pile never settled: {pile.status()}")
