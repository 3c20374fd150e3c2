"""Nothing about a transaction is lost or doubled on OCPP 2.0.1 (CONTRACT 11): kill -9s at random
instants through full paid cycles, checked as the CSMS sees them: every transaction's
TransactionEvents arrive in order with a gapless seqNo (a message is sent again only when the
pile was killed between the CSMS's answer and its journaling, and then with the same seqNo),
every Started is Ended, nothing follows an Ended, and the registers bill no more than the
meter counted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from rig.csms201 import Csms201
from tests.e2e.ocpp_rig import Moves, torture

KILLS = int(os.environ.get("OCPP201_KILLS", "40"))
pytestmark = pytest.mark.wall_clock("the daemon is killed at instants of real time")


DRIVER = {"id_token": "driver", "type": "Central"}
MOVES = Moves(
    start=lambda: call.RequestStartTransaction(id_token=DRIVER, remote_start_id=1),
    stop=lambda tid: call.RequestStopTransaction(transaction_id=tid),
    data_transfer=call.DataTransfer,
)


def test_kill_9_at_random_instants_through_paid_cycles(tmp_path: Path, csms201: Csms201) -> None:
    register_wh = torture(tmp_path, csms201, "ocpp2.0.1", KILLS, MOVES)
    check(csms201, register_wh)


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
