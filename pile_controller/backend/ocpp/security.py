"""The OCPP security profiles (the OCPP 1.6 security whitepaper, CONTRACT 10): 1, HTTP Basic
authentication with the charge point id and the password file's content; 2, the same over
`wss://` (TLS 1.2 or newer, the CSMS's certificate checked against `ca_file` and its host name);
3, `wss://` with the pile's client certificate instead of a password. Read once, before the
daemon starts: a file it cannot use is one line naming its key."""

from __future__ import annotations

import ssl

from pile_controller.backend import tls
from pile_controller.config import ConfigError, OcppSettings, TlsSettings


def credentials(ocpp: OcppSettings) -> tuple[ssl.SSLContext | None, str | None]:
    """The TLS context (profiles 2, 3) and the Basic password (profiles 1, 2)."""
    profile = ocpp.security_profile
    password = None
    if profile in (1, 2):
        assert ocpp.password_file is not None  # check-config requires it
        password = _read(ocpp.password_file, "ocpp.password_file").strip()
        if not password:
            raise ConfigError([f"ocpp.password_file: {ocpp.password_file} is empty"])
    if profile < 2:
        return None, password
    # The CSMS's certificate checked against ca_file; profile 3 adds the pile's own.
    cert, key = (ocpp.cert_file, ocpp.key_file) if profile == 3 else (None, None)
    files = TlsSettings(ocpp.ca_file, cert, key)
    return tls.context(files, ("ocpp.ca_file", "ocpp.cert_file", "ocpp.key_file")), password


def _read(path: object, key: str) -> str:
    try:
        with open(str(path), encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError([f"{key}: {path}: {exc.strerror}"]) from None
