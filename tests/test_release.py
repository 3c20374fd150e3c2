"""A release as scripts/release makes it, checked before anything is done with it: the
operator's signature, the hash the backend gave, a wheelhouse holding the project's wheel
(CONTRACT 12)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

import nacl.signing
import pytest

from pile_controller.fleet.release import ReleaseError, contents, verify

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = nacl.signing.SigningKey(bytes(range(32)))
PUBLIC = bytes(OPERATOR.verify_key)


def wheelhouse(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def signature(path: Path, key: nacl.signing.SigningKey = OPERATOR) -> str:
    return base64.b64encode(key.sign(path.read_bytes()).signature).decode()


GOOD = {"./pile_controller-9.9.9-py3-none-any.whl": b"w", "./qrcode-8.0-py3-none-any.whl": b"q"}


def test_a_signed_wheelhouse_is_a_release_of_its_wheel_s_version(tmp_path: Path) -> None:
    archive = wheelhouse(tmp_path / "r.tar.gz", GOOD)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    release = verify(archive, sha, signature(archive), PUBLIC)
    assert release.version == "9.9.9" and len(release.wheels) == 2


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("hash", "InstallVerificationFailed"),
        ("unsigned", "InvalidSignature"),
        ("stranger", "InvalidSignature"),
        ("tampered", "InvalidSignature"),
    ],
)
def test_what_is_not_the_operator_s_release_is_refused(
    tmp_path: Path, case: str, status: str
) -> None:
    archive = wheelhouse(tmp_path / "r.tar.gz", GOOD)
    sig: str | None = signature(archive)
    sha = None
    if case == "hash":
        sha = "0" * 64
    elif case == "unsigned":
        sig = None
    elif case == "stranger":
        sig = signature(archive, nacl.signing.SigningKey(bytes(32)))
    else:
        archive.write_bytes(archive.read_bytes() + b"\0")
    with pytest.raises(ReleaseError) as caught:
        verify(archive, sha, sig, PUBLIC)
    assert caught.value.status == status


@pytest.mark.parametrize(
    "files",
    [
        {"./qrcode-8.0-py3-none-any.whl": b"q"},  # no project wheel
        {**GOOD, "./run.sh": b"rm -rf /"},  # not a wheel
        {**GOOD, "../pile_controller-9.9.8-py3-none-any.whl": b"x"},  # outside the folder
    ],
)
def test_what_is_not_a_wheelhouse_is_refused(tmp_path: Path, files: dict[str, bytes]) -> None:
    with pytest.raises(ReleaseError) as caught:
        contents(wheelhouse(tmp_path / "r.tar.gz", files))
    assert caught.value.status == "InstallationFailed"


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    archive = wheelhouse(tmp_path / "r.tar.gz", GOOD)
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(ReleaseError, match="not a readable .tar.gz"):
        contents(archive)


def test_scripts_release_builds_and_signs_what_verify_accepts(tmp_path: Path) -> None:
    key = tmp_path / "operator.key"
    key.write_bytes(bytes(OPERATOR))
    env = {**os.environ, "PIP_ARGS": "--no-deps", "PYTHON": str(Path(os.sys.executable))}
    done = subprocess.run(
        [str(ROOT / "scripts/release"), str(key), str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    sha = re.search(r"\(([0-9a-f]{64})\)", done.stdout).group(1)  # type: ignore[union-attr]
    (archive,) = (tmp_path / "dist").glob("*.tar.gz")
    version = re.search(r'__version__ = "(.*)"', (ROOT / "pile_controller/__init__.py").read_text())
    release = verify(archive, sha, Path(f"{archive}.sig").read_text(), PUBLIC)
    assert release.version == version.group(1)  # type: ignore[union-attr]
    assert any(w.startswith("pip-") for w in release.wheels), "the next update needs a pip"
