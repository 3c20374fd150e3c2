"""A release as it arrives (CONTRACT 12): a wheelhouse `.tar.gz` (`scripts/release`) checked
before anything is done with it: its sha256 when the backend gave one, its detached Ed25519
signature by the operator's key (`update.public_key`) whenever one is configured, and what it
holds: wheels only, one of them the project's, whose name gives the release's version. A
check that fails says which, in the status OCPP names for it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

PROJECT_WHEEL = re.compile(r"^pile_controller-([0-9][^-]*)-[^/]+\.whl$")


class ReleaseError(Exception):
    """`status`: InstallVerificationFailed (the hash), InvalidSignature, InstallationFailed
    (not a release)."""

    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


@dataclass(frozen=True)
class Release:
    archive: Path
    version: str
    wheels: tuple[str, ...]


def verify(
    archive: Path, sha256: str | None, signature: str | None, public_key: bytes | None
) -> Release:
    data = archive.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256.lower():
        raise ReleaseError("InstallVerificationFailed", "its sha256 is not the one given")
    if public_key is not None:
        check_signature(data, signature, public_key)
    return contents(archive)


def check_signature(data: bytes, signature: str | None, public_key: bytes) -> None:
    if not signature:
        raise ReleaseError("InvalidSignature", "it is not signed, and update.public_key is set")
    try:
        key = nacl.signing.VerifyKey(public_key)
        key.verify(data, base64.b64decode(signature.strip(), validate=True))
    except (nacl.exceptions.BadSignatureError, binascii.Error, ValueError):
        raise ReleaseError("InvalidSignature", "its signature is not the operator's") from None


def contents(archive: Path) -> Release:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = [m.name for m in tar.getmembers() if m.isfile()]
            odd = [m.name for m in tar.getmembers() if not (m.isfile() or m.isdir())]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ReleaseError("InstallationFailed", f"not a readable .tar.gz: {exc}") from None
    wheels = tuple(Path(n).name for n in names)
    strays = [n for n in names if not n.endswith(".whl") or ".." in Path(n).parts] + odd
    if strays:
        raise ReleaseError("InstallationFailed", f"not a wheelhouse: it holds {strays[0]!r}")
    versions = [m.group(1) for w in wheels if (m := PROJECT_WHEEL.match(w))]
    if len(versions) != 1:
        raise ReleaseError("InstallationFailed", "it holds no pile-controller wheel, or several")
    return Release(archive, versions[0], wheels)
