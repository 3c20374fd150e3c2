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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class KeyFileError(Exception):
    """The pile's key file is unreadable: one line for the technician, naming the file."""


class PileKey:
    """The pile's own signing key, made on first boot and kept in the state folder (0600)."""

    def __init__(self, key: Ed25519PrivateKey):
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> PileKey:
        if path.exists():
            try:
                return cls(Ed25519PrivateKey.from_private_bytes(path.read_bytes()))
            except ValueError:
                raise KeyFileError(
                    f"{path}: not a raw 32-byte Ed25519 private key (restore it, or remove it to"
                    " make a new one and give the backend the new public key)"
                ) from None
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
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
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def sign(self, obj: Any) -> str:
        return base64.b64encode(self._key.sign(canonical(obj))).decode()


def verify(public_key: bytes, obj: dict[str, Any], signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical(obj))
    except (InvalidSignature, ValueError):
        return False
    return True
