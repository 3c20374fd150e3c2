"""What the SD card itself sees (issue #20, item 7): the pile's state folder on an ext4 file
system of its own, on a loop device, and the bytes that device was asked to write (its
`/sys/block/loopN/stat`, sectors written x 512: ext4's journal and metadata included, which the
daemon's `write_bytes` misses), per connector per charging hour; two connectors charging,
each metered by an SDM630 over Modbus TCP, on MQTT, OCPP 1.6J and OCPP 2.0.1.

Run as root (it makes a loop device and mounts it): `python -m benchmarks.device [--seconds 600]
[--interval 10]`. A window shorter than the WAL's fold (the journal folds it every 200
commits) sees only its growth: give it long enough to see what a pile's hour looks like.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.footprint import HOUR, served_meters
from benchmarks.ocpp import charging
from rig.broker import Broker
from rig.csms import Csms
from rig.csms201 import Csms201

SECTOR = 512


@contextlib.contextmanager
def ext4(mount: Path, size_mb: int = 256) -> Iterator[str]:
    """A fresh ext4 on a loop device, mounted at `mount` as Raspberry Pi OS mounts its root
    (noatime); the loop device's name."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        image = Path(tmp) / "sd.img"
        subprocess.run(["truncate", "-s", f"{size_mb}M", str(image)], check=True)
        device = subprocess.run(
            ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
        ).stdout.strip()
        try:
            subprocess.run(["mkfs.ext4", "-q", device], check=True)
            mount.mkdir(parents=True)
            subprocess.run(["mount", "-o", "noatime", device, str(mount)], check=True)
            try:
                yield Path(device).name
            finally:
                subprocess.run(["umount", str(mount)], check=True)
        finally:
            subprocess.run(["losetup", "-d", device], check=True)


def sectors_written(device: str) -> int:
    return int(Path(f"/sys/block/{device}/stat").read_text().split()[6])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="the window of real time")
    parser.add_argument("--interval", type=int, default=10, help="metering.interval_s")
    parser.add_argument("--warmup", type=float, default=60.0, help="charging before the window")
    parser.add_argument("--protocols", default="mqtt,ocpp1.6,ocpp2.0.1")
    args = parser.parse_args()
    served, meters = served_meters()
    servers = {"ocpp1.6": Csms().start(), "ocpp2.0.1": Csms201().start()}
    try:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Broker(Path(tmp) / "b") as broker:
            for protocol in args.protocols.split(","):
                # The state folder on the card; the daemon's log beside it, not on it (a
                # pile's goes to journald).
                workdir = Path(tmp) / f"{protocol}-pile"
                with ext4(workdir / "state") as device:
                    pile = charging(
                        workdir,
                        meters,
                        servers.get(protocol),
                        broker,
                        interval_s=args.interval,
                        protocol=protocol,
                    )
                    # The window opens once the pile charges (its boot and first commits are a
                    # boot's, not an hour's) and closes before the stop (a clean stop folds the
                    # WAL and deletes it: a restart's cost, not an hour's); what ext4 still
                    # holds in memory at each end is written out first.
                    time.sleep(args.warmup)
                    subprocess.run(["sync"], check=True)
                    before = sectors_written(device)
                    time.sleep(args.seconds)
                    subprocess.run(["sync"], check=True)
                    at_device = (sectors_written(device) - before) * SECTOR
                    pile.stop()
                    per_hour = HOUR / args.seconds / 2  # per connector
                    print(
                        f"device: {protocol}, metering every {args.interval} s: "
                        f"{at_device * per_hour / 1e6:.2f} MB per connector per charging hour "
                        f"at the block device ({args.seconds:.0f} s window)"
                    )
    finally:
        for csms in servers.values():
            csms.stop()
        for m in served:
            m.stop()


if __name__ == "__main__":
    main()
