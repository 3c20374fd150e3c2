"""Receipts an auditor can check: the daemon meters a session on an SDM630 served by pymodbus,
and the receipt in `transaction.stopped` names that meter by model and serial number; then
`pilectl receipt verify` checks it against the key in the pile's birth message, as someone who
holds only the two messages would, and says in one line what does not match when it does not."""

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nacl.signing

from rig.meter import ServedMeter
from tests.e2e.test_meter_failure import meter_line


def pilectl_verify(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pile_controller.technician.cli", "receipt", "verify", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_receipt_names_its_meter_and_verifies_against_the_birth(
    make_rig: Any, tmp_path: Path
) -> None:
    served = ServedMeter("sdm630")
    served.serial = "31415926"
    port = served.serve_tcp()
    try:
        rig = make_rig(meters={1: meter_line(port)})
        be, pile = rig.backend, rig.pile
        birth = be.online()
        pile.wait_until(lambda r: r["connectors"][0]["meter"] is not None)
        pile.sim("plug", 1)
        assert be.ask("start", connector=1, id_token="driver")["status"] == "Accepted"
        tx = be.event("transaction.started")["data"]["transaction_id"]
        served.power_w, served.energy_wh = 7000.0, 1_005_250.0
        pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] == 5250)
        pile.sim("stop-button", 1)
        stopped = be.event("transaction.stopped", transaction_id=tx)
    finally:
        served.stop()
    receipt = stopped["data"]["receipt"]
    assert receipt["meter"] == {"model": "sdm630", "vendor": "Eastron", "serial": "31415926"}
    assert receipt["energy_wh"] == 5250

    (tmp_path / "birth.json").write_text(json.dumps(birth))
    (tmp_path / "event.json").write_text(json.dumps(stopped))
    good = pilectl_verify(str(tmp_path / "event.json"), "--birth", str(tmp_path / "birth.json"))
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == (
        f"receipt OK: pile {pile.pile_id} connector 1, transaction {tx}, 5250 Wh "
        "(meter Eastron sdm630 serial 31415926), 10.50 CNY"
    )
    # The receipt alone, on stdin, with the key given by hand.
    alone = pilectl_verify("-", "--public-key", birth["public_key"], stdin=json.dumps(receipt))
    assert alone.returncode == 0, alone.stderr

    refusals = {
        "energy": {**receipt, "energy_wh": 9999},
        "meter": {**receipt, "meter": {**receipt["meter"], "serial": "27182818"}},
        "cost": {**receipt, "cost": {**receipt["cost"], "total": "1.00"}},
    }
    for what, changed in refusals.items():
        bad = pilectl_verify(
            "-", "--birth", str(tmp_path / "birth.json"), stdin=json.dumps(changed)
        )
        assert bad.returncode == 1, what
        assert bad.stderr.splitlines() == [
            "pilectl: the signature does not match: the receipt was changed after it was "
            "signed, or another key signed it"
        ], what
    stranger = nacl.signing.SigningKey.generate().verify_key.encode()
    other = pilectl_verify(
        str(tmp_path / "event.json"), "--public-key", base64.b64encode(stranger).decode()
    )
    assert other.returncode == 1 and "signature does not match" in other.stderr
