"""The backend link's TLS. The context is built once, before the daemon starts, from
`backend.tls`: a file it cannot use is one line naming its key. A handshake that fails later
(the broker's certificate, ours, a port without TLS) is said in one line naming the file or the
reason, not as OpenSSL's words alone."""

from __future__ import annotations

import re
import ssl

from pile_controller.config import ConfigError, TlsSettings

BROKER_KEYS = ("backend.tls.ca", "backend.tls.cert", "backend.tls.key")


def context(
    tls: TlsSettings | None, keys: tuple[str, str, str] = BROKER_KEYS
) -> ssl.SSLContext | None:
    """The client context for `tls` (None: no TLS), its files named by `keys` (ca, cert, key)
    in a problem: raises ConfigError naming the key."""
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # verifies the peer and its name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    problem = files_problem(ctx, tls, keys)
    if problem is not None:
        raise ConfigError([problem])
    return ctx


def files_problem(
    ctx: ssl.SSLContext, tls: TlsSettings, keys: tuple[str, str, str] = BROKER_KEYS
) -> str | None:
    """Loads `tls`'s files into `ctx`; returns what is wrong with them, naming the key."""
    ca_key, cert_key, key_key = keys
    if tls.key is not None and tls.cert is None:
        return f"{key_key}: given without {cert_key}"
    if tls.ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(tls.ca))
        except ssl.SSLError:
            return f"{ca_key}: {tls.ca}: no PEM certificates in it"
        except OSError as exc:
            return f"{ca_key}: {tls.ca}: {exc.strerror}"
    if tls.cert is not None:
        try:
            ctx.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                return f"{key_key}: {tls.key} is not the key of {tls.cert}"
            where = f" and its key in {tls.key}" if tls.key else " with its key"
            return f"{cert_key}: {tls.cert}: not a PEM certificate{where}"
        except OSError as exc:
            if tls.key is not None and exc.filename == str(tls.key):
                return f"{key_key}: {tls.key}: {exc.strerror}"
            return f"{cert_key}: {tls.cert}: {exc.strerror}"
    return None


# OpenSSL's reason codes, as they appear in the text of the error (`[SSL: CODE] words`), from a
# handshake or from the alert that follows it (with TLS 1.3 a broker that refuses our
# certificate says so only after the client's side of the handshake is done).
OUR_CERTIFICATE = {
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "it has expired (or is not valid yet)",
    "TLSV1_ALERT_UNKNOWN_CA": "the broker does not trust the CA that signed it",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker calls it a bad certificate",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "it has been revoked",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the broker cannot use it",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the broker does not accept its kind",
}
NO_TLS_HERE = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "PACKET_LENGTH")


def explain(
    error: str, tls: TlsSettings | None, where: str, timeout_s: float, in_handshake: bool
) -> str | None:
    """One line for a TLS failure described by `error` (an exception's or paho's text), or
    None if it is not one. `in_handshake`: it ended the TLS handshake itself."""
    if tls is None:
        return None
    code = m.group(1) if (m := re.search(r"\[SSL: ([A-Z0-9_]+)\]", error)) else ""
    if code == "CERTIFICATE_VERIFY_FAILED":
        detail = error.split("certificate verify failed:", 1)[-1].split(" (_ssl.c")[0].strip()
        against = f"backend.tls.ca ({tls.ca})" if tls.ca else "the system's CA certificates"
        return f"the certificate of broker {where} does not verify against {against}: {detail}"
    if code in OUR_CERTIFICATE:
        return f"broker {where} refused backend.tls.cert ({tls.cert}): {OUR_CERTIFICATE[code]}"
    if code == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or (tls.cert is None and "EOF" in error):
        return (
            f"broker {where} hung up during TLS: it likely wants a client certificate "
            "(backend.tls.cert and backend.tls.key)"
        )
    hung_up = "Connection reset by peer" in error or "EOF occurred" in error
    if code in NO_TLS_HERE or (in_handshake and hung_up):
        return f"broker {where} does not speak TLS on this port (it hung up on the handshake)"
    if "handshake operation timed out" in error:
        return f"the TLS handshake with broker {where} got no answer within {timeout_s:g} s"
    return None
