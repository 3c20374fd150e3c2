"""The releases on a pile and which one runs (CONTRACT 12), as `scripts/install` lays them out:

    /opt/pile-controller/releases/VERSION   a virtualenv each; `.complete` once fully built
    /opt/pile-controller/current            -> releases/VERSION, the one the unit starts
    /opt/pile-controller/previous           -> the one to go back to while `trial` stands
    /opt/pile-controller/trial              "VERSION STARTS": `current` is on trial
    /opt/pile-controller/rolled-back        "VERSION WHY": a trial that failed, to report

A switch writes `previous` and `trial` before it moves `current` (each with one rename), so a
crash at any instant leaves a `current` that is whole. Going back is never the new release's
job: it may not run at all. `scripts/release-check`, run by systemd before every start, counts
the starts of a release on trial and switches back after MAX_STARTS, or at once when the
release gave up (`give_up`, its update.confirm_s passed without the backend). A release that
comes online `confirm`s itself by removing `trial`.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_STARTS = 3  # scripts/release-check's, too
GAVE_UP = "gave-up"


@dataclass(frozen=True)
class Releases:
    root: Path

    @classmethod
    def running(cls) -> Releases | None:
        """The layout the running interpreter is part of; None if it is not one (a source
        checkout, the demo, a test's virtualenv)."""
        prefix = Path(sys.prefix).resolve()
        if prefix.parent.name != "releases":
            return None
        return cls(prefix.parent.parent)

    def release(self, version: str) -> Path:
        return self.root / "releases" / version

    def current(self) -> str | None:
        return self._target("current")

    def complete(self, version: str) -> bool:
        return (self.release(version) / ".complete").exists()

    # --- the switch ----------------------------------------------------------------------------

    def switch(self, version: str) -> None:
        """Makes `version` (complete) the one the next start runs, on trial."""
        assert self.complete(version), version
        running = self.current()
        if running is not None:
            self._link("previous", running)
        self._write("trial", f"{version} 0")
        self._link("current", version)

    def on_trial(self) -> str | None:
        """The version on trial, if it is the current one (a stale `trial` is not)."""
        words = self._read("trial").split()
        return words[0] if words and words[0] == self.current() else None

    def confirm(self) -> None:
        """The release on trial came online: it stays, and the releases before `previous`
        go (two are kept: the running one and the one before it)."""
        (self.root / "trial").unlink(missing_ok=True)
        keep = {self.current(), self._target("previous")}
        for release in (self.root / "releases").iterdir():
            if release.name not in keep:
                remove(release)

    def give_up(self) -> None:
        """The release on trial did not come online in time: the next start goes back."""
        version = self.on_trial()
        if version is not None:
            self._write("trial", f"{version} {GAVE_UP}")

    def rolled_back(self) -> tuple[str, str] | None:
        """(version, why) of a trial `scripts/release-check` ended, until `reported`."""
        version, _, why = self._read("rolled-back").partition(" ")
        return (version, why.strip()) if version else None

    def reported(self) -> None:
        (self.root / "rolled-back").unlink(missing_ok=True)

    def clear_leftovers(self) -> None:
        """Releases an update began and never finished (a crash, a full disk)."""
        keep = {self.current(), self._target("previous")}
        for release in (self.root / "releases").iterdir():
            if release.name not in keep and not (release / ".complete").exists():
                remove(release)

    # --- files, each replaced with one rename --------------------------------------------------

    def _target(self, link: str) -> str | None:
        try:
            return Path(os.readlink(self.root / link)).name
        except OSError:
            return None

    def _link(self, link: str, version: str) -> None:
        new = self.root / f"{link}.new"
        new.unlink(missing_ok=True)
        new.symlink_to(f"releases/{version}")
        new.replace(self.root / link)
        self._sync()

    def _read(self, name: str) -> str:
        try:
            return (self.root / name).read_text()
        except OSError:
            return ""

    def _write(self, name: str, text: str) -> None:
        new = self.root / f"{name}.new"
        with open(new, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        new.replace(self.root / name)
        self._sync()

    def _sync(self) -> None:
        """The renames on disk before anything acts on them (a power cut keeps them)."""
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(release: Path) -> None:
    """Out of sight with one rename first: a crash in the middle of removing thousands of
    files leaves a `.gone-*` folder (removed at the next start), never a release half there."""
    gone = release if release.name.startswith(".") else release.with_name(f".gone-{release.name}")
    try:
        release.rename(gone)
    except OSError:
        return
    shutil.rmtree(gone, ignore_errors=True)
