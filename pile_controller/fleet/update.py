"""An update (CONTRACT 12), from the order to the restart into the new release.

Download (http, https; a file for `pilectl update`), check the hash and the signature
(`release.verify`), install beside the running release (a virtualenv of its own; pip from the
wheelhouse only, never an index), wait until no session runs, switch (`releases.Releases`)
and restart. The new release confirms itself once online (`daemon`'s trial watch), or is
switched back by `scripts/release-check`. Each step says how it went as
`events.FirmwareProgress`; a failure is one log line and one status naming it, and changes
nothing that runs. Imported only when an update arrives: the boot never pays for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pile_controller.core import events as ev
from pile_controller.core.commands import Update
from pile_controller.fleet import release as checks
from pile_controller.fleet.releases import Releases
from pile_controller.fleet.worker import on_a_daemon_thread

log = logging.getLogger("pile_controller.update")
TRIES = 3
TIMEOUT_S = 30.0  # per read: a server that stalls is given up, not waited for
MAX_BYTES = 512 * 2**20  # a wheelhouse is tens of MB; anything far larger is not one
IDLE_POLL_S = 1.0
PIP_TIMEOUT_S = 900.0  # a Pi Zero installing Pillow's wheel and the rest
# `pile-controller prepare` in the new release (fastclasses.py: its dataclasses precompiled).
# It imports what a boot imports, so a release whose daemon does not import fails here,
# before anything is switched; only its entry point (__main__) is left to its first start.
PREPARE = "from pile_controller.service.start import main; raise SystemExit(main(['prepare']))"


class UpdateFailed(Exception):
    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


@dataclass(frozen=True)
class Pile:
    """What an update needs of the daemon."""

    feed: Callable[[ev.Event], None]
    in_session: Callable[[], bool]
    restart: Callable[[str], None]
    public_key: bytes | None  # update.public_key, else backend.public_key
    releases: Releases | None  # None: this pile does not run from scripts/install's layout
    now: Callable[[], datetime]


async def carry_out(order: Update, pile: Pile) -> None:
    def say(status: str, version: str | None = None, why: str | None = None) -> None:
        pile.feed(ev.FirmwareProgress(status, version, why))

    releases = pile.releases
    if releases is None:
        log.warning("update from %s refused: this pile does not run from releases/", order.url)
        say("InstallationFailed", None, "the pile does not run from /opt/pile-controller/releases")
        return
    if order.retrieve_at is not None:
        wait_s = (order.retrieve_at - pile.now()).total_seconds()
        if wait_s > 0:
            log.info("update from %s: downloading at %s", order.url, order.retrieve_at)
            await asyncio.sleep(wait_s)
    incoming = releases.root / "releases" / ".incoming"
    version = None
    try:
        say("Downloading")
        archive, signature = await on_a_daemon_thread(lambda: download(order, incoming), "update")
        say("Downloaded")
        # Hashing and checking tens of MB takes a Pi a second: off the loop, as the rest.
        release = await on_a_daemon_thread(
            lambda: checks.verify(archive, order.sha256, signature, pile.public_key), "update"
        )
        version = release.version
        if version == releases.current():
            log.info("update to %s: it is the running release", version)
            say("Installed", version)
            return
        say("Installing", version)
        await on_a_daemon_thread(lambda: install(releases, release, incoming), "update")
        if pile.in_session():
            log.info("release %s installed; switching once no session runs", version)
        while pile.in_session():
            await asyncio.sleep(IDLE_POLL_S)
        releases.switch(version)
    except (UpdateFailed, checks.ReleaseError) as exc:
        log.warning("update from %s: %s: %s", order.url, exc.status, exc)
        say(exc.status, version, str(exc)[:200])
        return
    except OSError as exc:  # a full disk, a folder that cannot be written
        log.warning("update from %s: InstallationFailed: %s", order.url, exc)
        say("InstallationFailed", version, str(exc)[:200])
        return
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    log.info("release %s installed: restarting into it", version)
    pile.restart("Update")


# --- the steps, on a worker thread -------------------------------------------------------------


def download(order: Update, into: Path) -> tuple[Path, str | None]:
    """The archive, and its signature: the order's, or the one at the url + ".sig" (which
    `pilectl update FILE` reads as FILE.sig) when a key will ask for one."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    archive = into / "release.tar.gz"
    fetch(order.url, archive, order.local)
    signature = order.signature
    if signature is None:
        sig = into / "release.sig"
        try:
            fetch(order.url + ".sig", sig, order.local, tries=1)
            signature = sig.read_text().strip()
        except UpdateFailed:
            signature = None  # unsigned: refused by verify() whenever a key is configured
    if order.local:  # pilectl's copy, in the daemon's runtime folder: copied, not kept twice
        source = Path(unquote(urlsplit(order.url).path))
        source.unlink(missing_ok=True)
        Path(f"{source}.sig").unlink(missing_ok=True)
    return archive, signature


def fetch(
    url: str, to: Path, local: bool, tries: int = TRIES, sleep: Callable[[float], None] = time.sleep
) -> None:
    parts = urlsplit(url)
    if parts.scheme == "file" and local:
        try:
            shutil.copyfile(unquote(parts.path), to)
        except OSError as exc:
            raise UpdateFailed("DownloadFailed", f"{parts.path}: {exc.strerror}") from None
        return
    if parts.scheme not in ("http", "https"):
        raise UpdateFailed("DownloadFailed", f"cannot download from a {parts.scheme!r} url")
    why = ""
    for attempt in range(1, tries + 1):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer, open(to, "wb") as out:
                copied = 0
                while chunk := answer.read(2**16):
                    copied += len(chunk)
                    if copied > MAX_BYTES:
                        raise UpdateFailed("DownloadFailed", f"over {MAX_BYTES >> 20} MB")
                    out.write(chunk)
            return
        except urllib.error.HTTPError as exc:
            why = f"HTTP {exc.code} from {parts.hostname}"
        except (OSError, ValueError) as exc:  # refused, unreachable, a timeout, a full disk
            why = f"{parts.hostname or url}: {exc}"
        if attempt < tries:
            sleep(2.0 * attempt)
    raise UpdateFailed("DownloadFailed", f"{why} ({tries} tries)" if tries > 1 else why)


def install(releases: Releases, release: checks.Release, incoming: Path) -> None:
    """A virtualenv at releases/VERSION with every wheel of the wheelhouse, pip told to use no
    index; `.complete` once all of it is on disk. One cut off is removed and built again."""
    wheelhouse = incoming / "wheelhouse"
    with tarfile.open(release.archive, "r:gz") as tar:
        tar.extractall(wheelhouse, filter="data")  # verify() checked: wheels, nothing outside
    wheels = sorted(str(p) for p in wheelhouse.rglob("*.whl"))
    target = releases.release(release.version)
    shutil.rmtree(target, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        run([base, "-m", "venv", "--without-pip", str(target)])
        # The running release's pip installs into the new one (pip's --python): a release's
        # own pip comes from its wheelhouse, as every other wheel does.
        pip = [sys.executable, "-m", "pip", "--python", str(target / "bin/python")]
        run([*pip, "install", "--no-index", "--find-links", str(wheelhouse), "--no-cache-dir",
             "--disable-pip-version-check", "--quiet", *wheels])  # fmt: skip
        run([str(target / "bin/python"), "-c", PREPARE])
        os.sync()  # every file on the card before `.complete` says so
        (target / ".complete").touch()
        os.sync()
    except UpdateFailed:
        shutil.rmtree(target, ignore_errors=True)
        raise


def run(command: list[str]) -> None:
    # pip as the wheelhouse alone says: no config file or PIP_* variable of the machine's
    # (a find-links, an index) may bring in what the release does not hold.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateFailed("InstallationFailed", str(exc)) from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"{command[2]} exited with {done.returncode}"
        raise UpdateFailed("InstallationFailed", why)
