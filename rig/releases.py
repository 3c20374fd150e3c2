"""Releases for the update tests (CONTRACT 12), and systemd's part in running them.

A release here is what `scripts/release` makes (the project's wheel in a signed wheelhouse
`.tar.gz`) but built from a copy of the source with its version, and perhaps a defect, changed.
Its wheelhouse holds only the project's wheel: the dependencies the releases' virtualenvs run
with come from the test's own virtualenv, on PYTHONPATH, without the project (`deps()`), so
that an install is seconds, not minutes. The pile installs a release exactly as on a Pi
(`fleet/update.py`: a virtualenv, pip from the wheelhouse with no index).

`Supervisor` is systemd for such a layout: `scripts/release-check` before every start, then
`current/bin/python -m pile_controller`, started again whenever it exits (Restart=always),
and whatever it started killed with it (KillMode=control-group).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
import unittest.mock
import zipfile
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import nacl.signing

from pile_controller.fleet import release as checks
from pile_controller.fleet.releases import Releases
from pile_controller.fleet.update import install
from pile_controller.technician.cli import CliError
from rig.pile import PileProcess
from rig.uploads import HttpServer

SOURCE = Path(__file__).resolve().parent.parent
OPERATOR = nacl.signing.SigningKey(bytes(range(32)))  # the operator's release key, for tests
OPERATOR_PUBLIC = base64.b64encode(bytes(OPERATOR.verify_key)).decode()
PROJECT = ("pile_controller", "hal", "__editable__", "rig", "tests")


def deps(into: Path) -> Path:
    """A folder of links to every package of the test's virtualenv but the project's own."""
    if not into.exists():
        into.mkdir(parents=True)
        for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
            if not entry.name.startswith(PROJECT) and not entry.name.endswith(".pth"):
                (into / entry.name).symlink_to(entry)
    return into


_built: dict[Path, Path] = {}


def project_wheel(workdir: Path) -> Path:
    """The project's wheel as scripts/release builds it (from the files git tracks), once."""
    if workdir in _built:
        return _built[workdir]
    src = workdir / "src"
    files = subprocess.run(
        ["git", "ls-files", "-z", "pile_controller", "hal", "setup.cfg", "pyproject.toml",
         "README.md"],
        cwd=SOURCE, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for name in filter(None, files):
        target = src / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOURCE / name.decode(), target)
    out = workdir / "built"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--wheel-dir", str(out), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    shutil.rmtree(src)
    _built[workdir] = next(out.glob("*.whl"))
    return _built[workdir]


def variant(base: Path, version: str, out: Path, defect: dict[str, str] | None = None) -> Path:
    """`base` (the project's wheel) as release `version`: its files, metadata and RECORD say
    `version`; `defect` replaces the text of some of its files (a release that fails)."""
    old = base.name.split("-")[1]
    renamed = {f"pile_controller-{old}.dist-info": f"pile_controller-{version}.dist-info"}
    out.mkdir(parents=True, exist_ok=True)
    target = out / base.name.replace(f"-{old}-", f"-{version}-")
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(base) as z:
        for name in z.namelist():
            folder, _, rest = name.partition("/")
            new_name = f"{renamed.get(folder, folder)}/{rest}"
            data = z.read(name)
            if name == "pile_controller/__init__.py" or rest == "METADATA":
                data = data.replace(old.encode(), version.encode(), 1)
            if defect and new_name in defect:
                data = defect[new_name].encode()
            files[new_name] = data
    record = next(n for n in files if n.endswith(".dist-info/RECORD"))
    lines = []
    for name, data in files.items():
        if name != record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append(f"{name},sha256={digest.decode()},{len(data)}")
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return target


def wheelhouse(wheels: list[Path], archive: Path) -> tuple[Path, str, str]:
    """A release archive of `wheels`, its sha256 and its signature by OPERATOR."""
    with tarfile.open(archive, "w:gz") as tar:
        for w in wheels:
            tar.add(w, arcname=w.name)
    data = archive.read_bytes()
    signature = base64.b64encode(OPERATOR.sign(data).signature).decode()
    return archive, hashlib.sha256(data).hexdigest(), signature


def first_install(root: Path, archive: Path, deps: Path) -> str:
    """What scripts/install lays out, with the release in `archive` as the running one."""
    release = checks.contents(archive)
    releases = Releases(root)
    (root / "releases").mkdir(parents=True)
    with unittest.mock.patch.dict(os.environ, {"PYTHONPATH": str(deps)}):
        install(releases, release, root / "releases/.incoming")
    shutil.rmtree(root / "releases/.incoming")
    (root / "current").symlink_to(f"releases/{release.version}")
    return release.version


class Served(HttpServer):
    """Releases on an HTTP server on loopback: GET serves the files of `folder`."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        super().__init__(functools.partial(Quiet, directory=str(folder)))


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


class Supervisor:
    """systemd for a release layout (systemd/pile-controller.service: ExecStartPre, Restart)."""

    def __init__(self, pile: PileProcess, root: Path, deps: Path):
        self.pile, self.root = pile, root
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(deps)}
        self.env.pop("COVERAGE_PROCESS_CONFIG", None)  # not the test's virtualenv: no coverage
        self.process: subprocess.Popen[bytes] | None = None
        self.started: list[str] = []  # the release of every start, in order
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def _run(self) -> None:
        with open(self.pile.log, "ab") as log:
            while not self._stopping:
                subprocess.run(
                    [str(SOURCE / "scripts/release-check"), str(self.root)],
                    stdout=log, stderr=log, check=False,
                )  # fmt: skip
                self.started.append(Releases(self.root).current() or "")
                self.process = subprocess.Popen(
                    [str(self.root / "current/bin/python"), "-m", "pile_controller",
                     "--config", str(self.pile.config)],  # fmt: skip
                    stdout=log, stderr=log, env=self.env, cwd=self.root,
                    start_new_session=True,  # its own group: the unit's cgroup
                )  # fmt: skip
                self.process.wait()
                # KillMode=control-group: what the daemon started (an update's pip) dies with
                # it, before the next start.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                time.sleep(0.1)

    def running(self, version: str, timeout: float = 30.0) -> None:
        """Waits until the release `version` answers on the control socket, confirmed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            releases = Releases(self.root)
            if releases.current() == version and releases.on_trial() is None:
                with contextlib.suppress(CliError):
                    if self.pile.status()["firmware"] == version:
                        return
            time.sleep(0.05)
        tail = "\n".join(self.pile.logs().splitlines()[-15:])
        raise TimeoutError(f"release {version} never ran confirmed; starts {self.started}\n{tail}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        self._stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
        self._thread.join(timeout=20)
