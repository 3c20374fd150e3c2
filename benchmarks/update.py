"""An update's cost on this machine (issue #20, item 6): a real release, built by
`scripts/release` (the project's wheel and every wheel it needs, signed), downloaded over HTTP
from loopback, checked (sha256, signature, contents) and installed beside a release, as a pile
does it (`fleet/update.py`: a virtualenv, pip from the wheelhouse with no index). And what the
machinery costs a boot that has no update: the modules it imports at start, and their time.

`python -m benchmarks.update [--runs 3]`. The build needs the package index (or pip's cache).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nacl.signing

from pile_controller.core.commands import Update
from pile_controller.fleet import release as checks
from pile_controller.fleet.releases import Releases
from pile_controller.fleet.update import download, install
from rig.releases import Served

ROOT = Path(__file__).resolve().parent.parent


def build(into: Path) -> tuple[Path, bytes]:
    """scripts/release with a fresh operator key: (the archive, the key's public half)."""
    key = nacl.signing.SigningKey.generate()
    (into / "operator.key").write_bytes(bytes(key))
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(
        [str(ROOT / "scripts/release"), str(into / "operator.key"), str(into / "dist")],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    return next((into / "dist").glob("*.tar.gz")), bytes(key.verify_key)


def one_update(archive: Path, public: bytes, served: Served, scratch: Path) -> dict[str, float]:
    root = scratch / "opt"
    (root / "releases").mkdir(parents=True)
    releases, incoming = Releases(root), root / "releases/.incoming"
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    order = Update(served.url + archive.name, sha)
    t0 = time.perf_counter()
    got, signature = download(order, incoming)
    t1 = time.perf_counter()
    release = checks.verify(got, sha, signature, public)
    t2 = time.perf_counter()
    install(releases, release, incoming)
    t3 = time.perf_counter()
    return {"download": t1 - t0, "verify": t2 - t1, "install": t3 - t2, "total": t3 - t0}


def boot_cost() -> tuple[list[str], float]:
    """What the daemon's start imports of the update machinery, and the time it takes."""
    script = (
        "import sys, time\n"
        "import pile_controller.service.start\n"
        "print(' '.join(m for m in sys.modules if m.startswith('pile_controller.fleet')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    times = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pile_controller.service.start"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    own = sum(
        int(line.split("|")[0].split(":")[1])
        for line in times.splitlines()
        if line.rstrip().endswith(("pile_controller.fleet.releases", "pile_controller.fleet.trial"))
    )
    return loaded, own / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        archive, public = build(work)
        built_s = time.perf_counter() - t
        wheels = checks.contents(archive).wheels
        size_mb = archive.stat().st_size / 2**20
        print(f"release: {archive.name}, {len(wheels)} wheels, {size_mb:.1f} MB, ", end="")
        print(f"built in {built_s:.0f} s")
        served = Served(archive.parent)
        runs = [one_update(archive, public, served, work / f"run{n}") for n in range(args.runs)]
        served.stop()
        # The release installed must be able to install the next one: its own pip.
        new = next((work / "run0/opt/releases").glob("[0-9]*"))
        pip = subprocess.run(
            [str(new / "bin/python"), "-m", "pip", "--version"], capture_output=True
        )
        print(f"the installed release has its own pip: {pip.returncode == 0}")
        for step in ("download", "verify", "install", "total"):
            values = [r[step] for r in runs]
            print(f"  {step:9s} median {statistics.median(values):6.2f} s  (runs: "
                  + ", ".join(f"{v:.2f}" for v in values) + ")")  # fmt: skip
    loaded, ms = boot_cost()
    print(f"boot imports of the update machinery: {', '.join(loaded)} ({ms:.1f} ms)")


if __name__ == "__main__":
    main()
