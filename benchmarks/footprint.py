"""What a charging pile costs its SD card, its CPU and its memory: two connectors charging on
the simulated pile, each metered by an SDM630 served by pymodbus over Modbus TCP, for a window
of real time; bytes the daemon wrote to storage
(`write_bytes` of /proc/PID/io: what reached the block layer, the page cache's writeback
included) and its fsync/fdatasync calls (counted by strace attached for the window), per
connector per charging hour, and its CPU, for both metering intervals and each display.

Run with `python -m benchmarks.footprint [--seconds 60]` (part of `scripts/bench`). The state
folder is on this machine's disk, not a tmpfs, or nothing would be counted.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.run import cpu_seconds, rss_mb
from rig.backend import Backend
from rig.broker import Broker
from rig.meter import ServedMeter
from rig.pile import PileProcess

HOUR = 3600.0


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


def window(pile: PileProcess, seconds: float) -> tuple[int, int, float]:
    """(bytes written, fsyncs, CPU seconds) over `seconds` of the running daemon."""
    assert pile.process is not None
    pid = pile.process.pid
    trace = pile.workdir / "strace.txt"
    strace = subprocess.Popen(
        ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(trace), "-p", str(pid)],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attached to every thread
    b0, c0, t0 = written_bytes(pid), cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    b1, c1, elapsed = written_bytes(pid), cpu_seconds(pid), time.monotonic() - t0
    strace.send_signal(signal.SIGINT)
    strace.wait(timeout=10)
    syncs = sum(
        int(m.group(1))
        for m in re.finditer(
            r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$",
            trace.read_text(),
            re.M,
        )
    )
    return b1 - b0, syncs, (c1 - c0) / elapsed


def charging_pile(
    workdir: Path, broker: Broker, interval_s: int, display: str, meters: dict[int, str]
) -> PileProcess:
    # The png screens where the default puts them: a tmpfs (/run/pile-controller on a pile).
    screens = Path("/dev/shm") / f"footprint-{workdir.name}" / "screen-{connector}.png"
    pile = PileProcess(
        workdir,
        broker.port,
        interval_s=interval_s,
        display=display,
        display_path=screens,
        meters=meters,
    ).start()
    backend = Backend(broker.port, pile.pile_id).connect()
    backend.online()
    for cid in (1, 2):
        pile.sim("plug", cid)
        backend.ask("start", connector=cid, id_token=f"bench-{cid}")
        pile.sim("ev-power", cid, 7000)
    pile.wait_until(lambda r: all(c["state"] == "charging" for c in r["connectors"]))
    backend.close()
    time.sleep(2.0)  # the session's first writes are not the hour's
    return pile


def served_meters() -> tuple[list[ServedMeter], dict[int, str]]:
    """Two SDM630s served by pymodbus over Modbus TCP, and each connector's `meter` line."""
    served = [ServedMeter("sdm630") for _ in (1, 2)]
    meters = {
        cid: f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", '
        f"port = {m.serve_tcp()} }}"
        for cid, m in zip((1, 2), served, strict=True)
    }
    return served, meters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="each window of real time")
    args = parser.parse_args()
    served, meters = served_meters()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Broker(Path(tmp) / "broker") as broker:
        for display in ("png", "none"):
            for interval_s in (10, 1):
                workdir = Path(tmp) / f"{display}-{interval_s}"
                pile = charging_pile(workdir, broker, interval_s, display, meters)
                written, syncs, cpu = window(pile, args.seconds)
                assert pile.process is not None
                rss = rss_mb(pile.process.pid)
                pile.stop()
                per_hour = HOUR / args.seconds / 2  # per connector
                print(
                    f"footprint: display {display}, metering every {interval_s} s: "
                    f"{written * per_hour / 1e6:.2f} MB and {syncs * per_hour:.0f} fsyncs per "
                    f"connector per charging hour; CPU {cpu * 100:.2f} % of one core, "
                    f"RSS {rss:.1f} MB (2 connectors, {args.seconds:.0f} s window)"
                )
    for m in served:
        m.stop()


if __name__ == "__main__":
    main()
