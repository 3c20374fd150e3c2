"""scripts/install and scripts/uninstall into a scratch root (DESTDIR), as on a pile: the files
and their modes, the unit as systemd-analyze judges it, a second run changing nothing, and an
uninstall that keeps the journal and the config."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = "etc/systemd/system/pile-controller.service"
SECURITY_TARGET = 2.5  # issue #12: systemd-analyze security --offline=yes
VERSION = re.search(  # type: ignore[union-attr]
    r'^__version__ = "(.*)"', (ROOT / "pile_controller/__init__.py").read_text(), re.M
).group(1)


def run(script: str, destdir: Path) -> subprocess.CompletedProcess[str]:
    sudo = [] if os.geteuid() == 0 else ["sudo", "--preserve-env=DESTDIR,PIP_ARGS,EXTRAS"]
    env = {**os.environ, "DESTDIR": str(destdir), "PIP_ARGS": "--no-deps", "EXTRAS": ""}
    done = subprocess.run(
        [*sudo, str(ROOT / "scripts" / script)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done


def manifest(destdir: Path) -> dict[str, tuple[int, str]]:
    """Every file's mode and content hash (a release's virtualenv by name only: pip writes
    caches)."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(destdir.rglob("*")):
        name = str(path.relative_to(destdir))
        if path.is_symlink():
            out[name] = (0, os.readlink(path))
        elif path.is_file() and "/releases/" not in name:
            out[name] = (path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
        elif path.is_file() and "__pycache__" not in name:
            out[name] = (path.stat().st_mode, "")
    return out


def test_install_twice_into_a_scratch_root_then_uninstall(tmp_path: Path) -> None:
    destdir = tmp_path / "root"
    # A pile installed before releases: one virtualenv, and its journal and key (one install
    # here, not a test of its own: pip builds in the source tree, one install at a time).
    old = destdir / "opt/pile-controller/venv"
    (old / "bin").mkdir(parents=True)
    state = destdir / "var/lib/pile-controller"
    state.mkdir(parents=True)
    (state / "pile.key").write_bytes(bytes(32))
    first = run("install", destdir)
    assert "config.toml" in first.stdout
    assert "the old /opt/pile-controller/venv is replaced by" in first.stdout
    assert not old.exists() and (state / "pile.key").read_bytes() == bytes(32)
    installed = manifest(destdir)
    second = run("install", destdir)
    assert second.stdout == "" and manifest(destdir) == installed, "a second run changes nothing"

    def mode(name: str) -> int:
        return stat.S_IMODE((destdir / name).stat().st_mode)

    group = (destdir / "etc/group").read_text()
    gid = int(re.search(r"^pile-controller:x:(\d+):", group, re.M).group(1))  # type: ignore[union-attr]
    for device_group in ("gpio", "spi", "dialout", "video", "input"):
        assert re.search(rf"^{device_group}:x:\d+:.*pile-controller", group, re.M), device_group
    assert "pile-controller" in (destdir / "etc/passwd").read_text()
    config = destdir / "etc/pile-controller/config.toml"
    assert (mode("etc/pile-controller/config.toml"), config.stat().st_gid) == (0o640, gid)
    assert mode("etc/pile-controller") == 0o750 and mode(UNIT) == 0o644
    wants = destdir / "etc/systemd/system/multi-user.target.wants/pile-controller.service"
    assert wants.is_symlink(), "enabled"
    version = VERSION
    current = destdir / "opt/pile-controller/current"
    assert os.readlink(current) == f"releases/{version}"  # the release the unit runs
    assert os.access(current / "bin/pile-controller", os.X_OK)
    assert (destdir / f"opt/pile-controller/releases/{version}/.complete").exists()
    for command in ("pile-controller", "pilectl"):  # on the technician's PATH
        link = destdir / "usr/local/bin" / command
        assert os.readlink(link) == f"/opt/pile-controller/current/bin/{command}"
    # Updates (CONTRACT 12): the daemon's user builds releases and moves `current`; what
    # switches one back runs from outside every release.
    uid = int(
        re.search(r"^pile-controller:x:(\d+):", (destdir / "etc/passwd").read_text(), re.M).group(1)
    )  # type: ignore[union-attr]
    prefix = destdir / "opt/pile-controller"
    assert prefix.stat().st_uid == uid and (prefix / f"releases/{version}/bin").stat().st_uid == uid
    assert mode("opt/pile-controller/bin/release-check") == 0o755

    # The unit as systemd judges it, its ExecStart pointed into the scratch root.
    unit = tmp_path / "pile-controller.service"
    unit.write_text((destdir / UNIT).read_text().replace("/opt/", f"{destdir}/opt/"))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
    )
    assert (verify.returncode, verify.stderr) == (0, "")
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
    ).stdout
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", security).group(1))  # type: ignore[union-attr]
    assert exposure <= SECURITY_TARGET, security

    config.write_text(config.read_text() + "# the operator's own edit\n")
    journal = state / "journal.sqlite"
    journal.write_bytes(b"billing facts")
    run("install", destdir)
    assert config.read_text().endswith("# the operator's own edit\n"), "never overwritten"
    release = destdir / f"opt/pile-controller/releases/{VERSION}"
    (release / ".complete").unlink()  # as if the power went while pip installed it
    (release / "bin/pile-controller").unlink()
    assert f"in /opt/pile-controller/releases/{VERSION}" in run("install", destdir).stdout
    assert os.access(release / "bin/pile-controller", os.X_OK), "built again"
    run("uninstall", destdir)
    assert not (destdir / "opt/pile-controller").exists() and not (destdir / UNIT).exists()
    assert not wants.exists() and not (destdir / "usr/local/bin/pilectl").is_symlink()
    assert journal.read_bytes() == b"billing facts" and config.exists()
