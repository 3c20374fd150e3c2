"""Nothing about a transaction is lost or doubled on OCPP 1.6J (CONTRACT 10): a CSMS outage
with a kill -9 inside it, and kill -9s at random instants through full paid cycles, checked as
the CSMS sees them (rig/csms.py records every frame)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from rig.csms import Csms
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import Moves, ocpp_options, outage_with_a_kill_inside, torture

KILLS = int(os.environ.get("OCPP_KILLS", "100"))
pytestmark = pytest.mark.wall_clock("the daemon is killed at instants of real time")


def test_an_outage_with_a_kill_inside_loses_nothing(tmp_path: Path, csms: Csms) -> None:
    pile = PileProcess(tmp_path, 1, connectors=1, interval_s=1, **ocpp_options(csms.url)).start()
    try:
        csms.wait_connected()
        pile.sim("plug", 1)
        assert (
            csms.call(call.RemoteStartTransaction(id_tag="d", connector_id=1)).status == "Accepted"
        )
        start = csms.wait("StartTransaction")
        pile.wait_until(lambda r: r["connectors"][0]["ocpp_transaction_id"] == 1001)

        cost = outage_with_a_kill_inside(csms, pile)
        stop = csms.wait("StopTransaction", transactionId=1001, timeout=90)
        assert stop["meterStop"] - start["meterStart"] >= 1700
        assert len(csms.calls("StartTransaction")) == 1
        assert len(csms.calls("StopTransaction")) == 1
        samples = csms.calls("MeterValues")
        assert samples and all(m["transactionId"] == 1001 for m in samples)
        times = [m["meterValue"][0]["timestamp"] for m in samples]
        assert times == sorted(times) and len(set(times)) == len(times)
        pile.wait_until(lambda r: r["backend"]["outbox"] == 0)
        paid = csms.call(
            call.DataTransfer(
                vendor_id="pile-controller",
                message_id="PaymentSettled",
                data=json.dumps({"transactionId": 1001, "amount": cost}),
            )
        )
        assert paid.status == "Accepted"
        pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    finally:
        print(pile.logs()[-3000:])
        pile.stop()


MOVES = Moves(
    start=lambda: call.RemoteStartTransaction(id_tag="driver", connector_id=1),
    stop=lambda tid: call.RemoteStopTransaction(transaction_id=tid),
    data_transfer=call.DataTransfer,
)


def test_kill_9_at_random_instants_through_paid_cycles(tmp_path: Path, csms: Csms) -> None:
    register_wh = torture(tmp_path, csms, "ocpp1.6", KILLS, MOVES)
    check(csms, register_wh)


def check(csms: Csms, register_wh: float) -> None:
    """As the CSMS sees it: every start stopped, billed on the registers, in order; a start or
    a stop seen twice (killed between the CSMS's answer and its journaling) is counted, and is
    the same message again."""
    with csms._lock:
        frames = list(csms.frames)
    answers = {f[1]: f[2] for d, f in frames if d == ">" and f[0] == 3 and "transactionId" in f[2]}
    starts: dict[int, dict[str, Any]] = {}
    stops: dict[int, list[dict[str, Any]]] = {}
    samples_after_stop = 0
    for d, f in frames:
        if d != "<" or f[0] != 2:
            continue
        if f[2] == "StartTransaction" and f[1] in answers:
            starts[answers[f[1]]["transactionId"]] = f[3]
        elif f[2] == "StopTransaction":
            stops.setdefault(f[3]["transactionId"], []).append(f[3])
        elif f[2] == "MeterValues" and f[3]["transactionId"] in stops:
            samples_after_stop += 1
    keys = [(s["timestamp"], s["meterStart"]) for s in starts.values()]
    twice = len(keys) - len(set(keys))
    doubled_stops = sum(len(v) - 1 for v in stops.values())
    print(
        f"ocpp torture: {len(starts)} starts ({twice} seen twice), {len(stops)} stops "
        f"({doubled_stops} sent twice)"
    )
    assert starts, "no session ever started"
    assert samples_after_stop == 0, "MeterValues of a transaction after its stop"
    assert set(stops) <= set(starts), "a stop for a start the CSMS never answered"
    orphans = set(starts) - set(stops)
    assert len(orphans) <= twice, f"sessions never stopped: {orphans}"
    # A stop is sent again only as a start is: the pile killed between the CSMS's answer and
    # its journaling (a round trip and a commit; seen once in ~10 runs, under load). Then it is
    # the same message again, never a second stop with other figures.
    assert all(v[1:] == v[:1] * (len(v) - 1) for v in stops.values()), "two different stops"
    for tid, (stop, *_) in stops.items():
        assert 1_000_000 <= starts[tid]["meterStart"] <= stop["meterStop"] <= register_wh
