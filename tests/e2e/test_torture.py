"""Charge cycles while the daemon is killed (SIGKILL) at random instants, seeded: mid-commit,
right after a payment, while a meter sample waits to be committed, during a start. A real
mosquitto, an SDM630 served by pymodbus for the meter. Then, as a backend that de-duplicates
by seq sees it: seq gapless, every transaction stopped exactly once and billed on the meter's
registers, no cable released before its transaction was paid."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from rig.backend import Backend
from rig.broker import Broker
from rig.meter import ServedMeter
from rig.pile import PileProcess

KILLS = 100
pytestmark = pytest.mark.wall_clock("the daemon is killed at instants of real time")


def paid_up(events: dict[int, dict[str, Any]]) -> dict[str, str]:
    """Every requested payment not yet settled: transaction id -> amount."""
    owed: dict[str, str] = {}
    for seq in sorted(events):
        e = events[seq]
        if e["type"] == "payment.requested":
            owed[e["data"]["transaction_id"]] = e["data"]["amount"]
        elif e["type"] == "payment.settled":
            owed.pop(e["data"]["transaction_id"], None)
    return owed


def deduplicated(backend: Backend) -> dict[int, dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for e in backend.events():
        first = seen.setdefault(e["seq"], e)
        assert first["id"] == e["id"], f"seq {e['seq']} was given to two events"
    return seen


def test_kill_9_at_random_instants_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("TORTURE_SEED", random.randrange(2**32)))
    print(f"torture seed: {seed} (TORTURE_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    meter = ServedMeter("sdm630")
    port = meter.serve_tcp()
    line = f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", port = {port} }}'
    with Broker(tmp_path / "broker") as broker:
        be = Backend(broker.port, "PILE-T1").connect()
        pile = PileProcess(tmp_path, broker.port, connectors=1, meters={1: line}, interval_s=1)
        pile.measured = False  # killed a hundred times: nothing it measures is ever saved
        started = time.monotonic()
        try:
            for kill in range(KILLS + 1):
                pile.start()
                for _ in range(rng.randint(1, 4)):
                    act(rng, pile, be, meter)
                    time.sleep(rng.uniform(0, 0.05))
                if kill == KILLS:
                    break
                if rng.random() < 0.2:  # killed right after a payment reached the pile
                    act(rng, pile, be, meter, "pay")
                    time.sleep(rng.uniform(0, 0.01))
                else:
                    time.sleep(rng.uniform(0, 0.15))
                pile.stop(signal.SIGKILL)
            settle(pile, be)
            pile.stop()
        finally:
            if pile.process is not None:
                pile.stop(signal.SIGKILL)
            be.close()
            meter.stop()
        print(f"torture: {KILLS} kills in {time.monotonic() - started:.0f} s")
        check(deduplicated(be), meter.energy_wh)


def act(
    rng: random.Random, pile: PileProcess, be: Backend, meter: ServedMeter, what: str = ""
) -> None:
    """One thing a driver, the vehicle or the backend does, chosen at random; commands are
    sent without waiting for the reply (the pile may be killed before it answers)."""
    state = pile.status()["connectors"][0]
    match what or rng.choice(["start", "draw", "stop", "pay", "unplug", "draw"]):
        case "start" if state["state"] in ("idle", "authenticating"):
            pile.sim("plug", 1)
            be.command("start", connector=1, id_token=f"driver-{rng.randrange(1000)}")
        case "draw":
            meter.power_w = 7000.0
            meter.energy_wh += rng.choice([250.0, 500.0, 1000.0])  # exact in float32
        case "stop" if state["transaction_id"] and state["state"] == "charging":
            be.command("stop", transaction_id=state["transaction_id"])
        case "pay":
            owed = paid_up(deduplicated(be))
            for tx, amount in owed.items():
                be.command("payment", transaction_id=tx, status="paid", amount=amount)
        case "unplug":
            pile.sim("unplug", 1)


def settle(pile: PileProcess, be: Backend) -> None:
    """The last daemon runs on: every open session stopped, every payment made, all sent."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = pile.status()
        c = report["connectors"][0]
        owed = paid_up(deduplicated(be))
        if c["state"] == "charging" and c["transaction_id"]:
            be.command("stop", transaction_id=c["transaction_id"])
        for tx, amount in owed.items():
            be.command("payment", transaction_id=tx, status="paid", amount=amount)
        if not owed and c["state"] in ("idle", "unlocked") and report["backend"]["outbox"] == 0:
            pile.sim("unplug", 1)
            return
        time.sleep(0.3)
    raise AssertionError(f"the pile never settled: {pile.status()}")


def check(events: dict[int, dict[str, Any]], register_wh: float) -> None:
    seqs = sorted(events)
    assert seqs == list(range(1, len(seqs) + 1)), "seq has a gap"
    started = {
        e["data"]["transaction_id"]: e
        for e in events.values()
        if e["type"] == "transaction.started"
    }
    stopped: dict[str, list[dict[str, Any]]] = {}
    for e in events.values():
        if e["type"] == "transaction.stopped":
            stopped.setdefault(e["data"]["transaction_id"], []).append(e["data"])
    assert started, "no session ever started"
    assert set(stopped) == set(started), "a session never stopped, or one stopped unstarted"
    for tx, stops in stopped.items():
        assert len(stops) == 1, f"{tx} stopped {len(stops)} times"
        s = stops[0]
        assert s["energy_wh"] == s["meter_stop_wh"] - s["meter_start_wh"] >= 0
        assert 1_000_000 <= s["meter_start_wh"] <= s["meter_stop_wh"] <= register_wh
    reasons = [stops[0]["reason"] for stops in stopped.values()]
    print(
        f"torture: {len(seqs)} events, {len(started)} sessions, stopped "
        + ", ".join(f"{r} {reasons.count(r)}" for r in sorted(set(reasons)))
    )
    settled: set[str] = set()
    for seq in seqs:
        e = events[seq]
        if e["type"] == "payment.settled":
            settled.add(e["data"]["transaction_id"])
        if e["type"] == "cable.unlocked" and e["data"]["transaction_id"] in started:
            assert e["data"]["transaction_id"] in settled, f"cable released unpaid (seq {seq})"
