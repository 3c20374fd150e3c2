"""The daemon killed mid-charge (kill -9, as a power cut or a crash would): on restart the
session is stopped and billed on the meter's reading, exactly once, and the cable stays
locked until it is paid."""

import json
import signal
from typing import Any

from rig.meter import ServedMeter
from tests.e2e.test_flows import lock_out


def test_a_session_cut_off_by_a_crash_is_billed_exactly_once(make_rig: Any) -> None:
    served = ServedMeter("sdm630")
    port = served.serve_tcp()
    line = (
        f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", '
        f"port = {port}, unit = 1 }}"
    )
    try:
        rig = make_rig(meters={1: line})
        be, pile = rig.backend, rig.pile
        pile.wait_until(lambda r: r["connectors"][0]["meter"] is not None)
        pile.sim("plug", 1)
        be.ask("start", connector=1, id_token="driver")
        tx = be.event("transaction.started")["data"]["transaction_id"]
        served.energy_wh += 4200  # charged for a while ...
        pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] == 4200)

        pile.stop(signal.SIGKILL)  # ... then the daemon died
        served.energy_wh += 300  # what flowed before the contactor dropped
        pile.start()
        stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
        assert (stopped["reason"], stopped["energy_wh"]) == ("PowerLoss", 4500)
        assert stopped["cost"]["total"] == "9.00"
        amount = be.event("payment.requested", transaction_id=tx)["data"]["amount"]
        report = pile.status()["connectors"][0]
        assert (report["state"], report["cable_locked"], report["relay_closed"]) == (
            "awaiting_payment",
            True,
            False,
        )

        pile.stop()
        pile.start()  # and again: nothing is stopped or billed twice
        assert (
            be.ask("payment", transaction_id=tx, status="paid", amount=amount)["status"]
            == "Accepted"
        )
        be.event("cable.unlocked", transaction_id=tx)
        assert [
            e["data"]["transaction_id"] for e in be.events() if e["type"] == "transaction.stopped"
        ] == [tx]
        seqs = [e["seq"] for e in be.events()]
        assert sorted(set(seqs)) == list(range(1, max(seqs) + 1))
    finally:
        served.stop()


def test_a_keypad_lockout_outlives_a_kill_and_no_code_is_ever_told(make_rig: Any) -> None:
    rig = make_rig(max_attempts=3, lockout_s=300)
    be, pile = rig.backend, rig.pile
    lock_out(rig, code="8642", wrong="1357")
    last = be.event("authorization.rejected", attempts_left=0)["seq"]  # the third: locked out
    pile.stop(signal.SIGKILL)
    pile.start()
    pile.sim("plug", 1)  # the simulated vehicle did not outlive the process
    pile.sim("code", 1, "8642")  # the right code, but still locked out
    # Events sent before the kill may come again (at least once): the new one has a new seq.
    after = be.wait(
        lambda m: (
            m.topic.endswith("/events")
            and m.payload["type"] == "authorization.rejected"
            and m.payload["seq"] > last
        )
    ).payload
    assert after["data"]["reason"] == "LockedOut"
    pile.sim("clock", "+300")
    pile.sim("code", 1, "8642")
    be.event("transaction.started", reservation_id="R1")
    told = pile.logs() + json.dumps([m.payload for m in be.snapshot() if "/cmd/" not in m.topic])
    assert "8642" not in told and "1357" not in told
