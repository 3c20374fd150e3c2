"""Ed25519 on both sides of the link: the pile signs its receipts with its own key, and checks
the backend's signature on commands when `backend.public_key` is set.

Both sign the same canonical form the contract fixes:
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` in UTF-8.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

# PyNaCl (libsodium) rather than cryptography: the same Ed25519, for 3.4 MB of memory instead
# of 8.9 (cryptography carries its own OpenSSL beside the one Python's ssl module has loaded).
import nacl.exceptions
import nacl.signing


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class KeyFileError(Exception):
    """The pile's key file is unreadable: one line for the technician, naming the file."""


class PileKey:
    """The pile's own signing key, made on first boot and kept in the state folder (0600)."""

    def __init__(self, key: nacl.signing.SigningKey):
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> PileKey:
        if path.exists():
            try:
                return cls(nacl.signing.SigningKey(path.read_bytes()))
            except ValueError:
                raise KeyFileError(
                    f"{path}: not a raw 32-byte Ed25519 private key (restore it, or remove it to"
                    " make a new one and give the backend the new public key)"
                ) from None
        key = nacl.signing.SigningKey.generate()
        raw = bytes(key)  # the raw 32-byte seed, as the file has always held it
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return cls(key)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self._key.verify_key)).decode()

    def sign(self, obj: Any) -> str:
        return base64.b64encode(self._key.sign(canonical(obj)).signature).decode()


def verify(public_key: bytes, obj: dict[str, Any], signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        nacl.signing.VerifyKey(public_key).verify(canonical(obj), signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True
