"""`pilectl status --json` wall time, as a technician runs it: process start, imports, the
question over the control socket and the answer, against a running daemon on simulated
hardware. Also lists what the command imported: never the daemon, paho, Pillow or pymodbus.

`python -m benchmarks.pilectl [--runs 30]`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import percentile
from rig.pile import PileProcess

HEAVY = ("pile_controller.daemon", "paho", "PIL", "pymodbus", "nacl")
PROBE = (
    "import sys, runpy; sys.argv = ['pilectl', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('pile_controller.technician.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    f"print(sorted({{m.split('.')[0] if m.split('.')[0] != 'pile_controller' else m "
    f"for m in sys.modules if m.startswith({HEAVY!r})}}), file=sys.stderr)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    pilectl = Path(sys.executable).parent / "pilectl"
    with tempfile.TemporaryDirectory() as tmp:
        pile = PileProcess(Path(tmp), broker_port=1, connectors=2).start()  # no broker needed
        try:
            command = [str(pilectl), "--socket", str(pile.socket), "status", "--json"]
            subprocess.run(command, check=True, capture_output=True)  # bytecode cached
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                done = subprocess.run(command, check=True, capture_output=True)
                times.append((time.perf_counter() - started) * 1e3)
                json.loads(done.stdout)
            probe = [sys.executable, "-c", PROBE, "--socket", str(pile.socket), "status"]
            imported = subprocess.run(probe, capture_output=True, text=True).stderr.strip()
        finally:
            pile.stop()
    print(f"pilectl status --json, {runs} runs (ms)")
    print(
        f"  p50 {percentile(times, 50):.0f}  p90 {percentile(times, 90):.0f}"
        f"  max {max(times):.0f}  (target <= 150)"
    )
    print(f"  heavy modules imported: {imported.splitlines()[-1] if imported else '?'}")


if __name__ == "__main__":
    main()
