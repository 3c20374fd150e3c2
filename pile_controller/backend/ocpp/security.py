"""The OCPP security profiles (the OCPP 1.6 security whitepaper, CONTRACT 10): 1, HTTP Basic
authentication with the charge point id and the password file's content; 2, the same over
`wss://` (TLS 1.2 or newer, the CSMS's certificate checked against `ca_file` and its host name);
3, `wss://` with the pile's client certificate instead of a password. Read once, before the
daemon starts: a file it cannot use is one line naming its key."""

from __future__ import annotations

import ssl

from pile_controller.config import ConfigError, OcppSettings


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
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # the CSMS and its host name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=str(ocpp.ca_file))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError([f"ocpp.ca_file: {ocpp.ca_file}: {_why(exc)}"]) from None
    if profile == 3:
        try:
            ctx.load_cert_chain(str(ocpp.cert_file), str(ocpp.key_file))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                [f"ocpp.cert_file: {ocpp.cert_file} (key {ocpp.key_file}): {_why(exc)}"]
            ) from None
    return ctx, password


def _read(path: object, key: str) -> str:
    try:
        with open(str(path), encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError([f"{key}: {path}: {exc.strerror}"]) from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "not usable PEM" if isinstance(exc, ssl.SSLError) else str(exc)
