"""The pile speaking OCPP 1.6J to a central system we did not write (rig/csms.py,
rig/strict_csms.py)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from rig.csms import Csms
from rig.meter import ServedMeter
from rig.pile import PileProcess


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


Act = Callable[[random.Random, PileProcess, Any, ServedMeter], int]


def torture(
    tmp_path: Path,
    csms: Csms,
    protocol: str,
    kills: int,
    act: Act,
    settle: Callable[[PileProcess, Any], None],
) -> float:
    """A pile metered by a served SDM630, killed -9 `kills` times at random instants (seeded:
    TORTURE_SEED repeats a run), each life `act`ing one to four times (the driver, the vehicle,
    the CSMS; 1 if it saw a cable released unpaid), then `settle`d. The meter's register, Wh."""
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
                unpaid_releases += act(rng, pile, csms, meter)
                time.sleep(rng.uniform(0, 0.05))
            if kill == kills:
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
    return meter.energy_wh
