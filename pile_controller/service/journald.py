"""Logging to systemd's journal with structured fields, where the daemon runs under systemd:
each record is one datagram of journald's native protocol (MESSAGE, PRIORITY, LOGGER, and
CONNECTOR and TRANSACTION_ID where a record carries them in `extra`), so that
`journalctl -u pile-controller CONNECTOR=2` shows one connector. Elsewhere the daemon logs
lines to stderr as before.

The protocol (systemd's "Native Journal Protocol"): KEY=value lines; a value holding a newline
is KEY, a newline, its length as 64-bit little-endian, the value, and a newline.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys

from pile_controller.core.published import Published

SOCKET = "/run/systemd/journal/socket"
PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
FIELDS = {"connector": "CONNECTOR", "transaction": "TRANSACTION_ID"}  # record extra -> field


def under_journal(stream: object = sys.stderr) -> bool:
    """Whether `stream` is systemd's journal: systemd says so with $JOURNAL_STREAM, the
    device and inode of the stream it connected (a process that redirected it is not)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}" and os.path.exists(SOCKET)


def field(key: str, value: str) -> bytes:
    data = value.encode("utf-8", "replace")
    if b"\n" in data:
        return key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key.encode() + b"=" + data + b"\n"


class JournalHandler(logging.Handler):
    def __init__(self, path: str = SOCKET, identifier: str = "pile-controller"):
        super().__init__()
        self.path, self.identifier = path, identifier
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [
                field("MESSAGE", self.format(record)),
                field("PRIORITY", str(PRIORITY.get(record.levelno, 6))),
                field("SYSLOG_IDENTIFIER", self.identifier),
                field("LOGGER", record.name),
            ]
            for attribute, name in FIELDS.items():
                value = getattr(record, attribute, None)
                if value is not None:
                    parts.append(field(name, str(value)))
            self.sock.sendto(b"".join(parts), self.path)
        except Exception:  # the journal away must never stop the pile
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


# Events a technician reading the journal wants to see, with their connector and transaction
# as fields (journalctl CONNECTOR=1, TRANSACTION_ID=...).
LOGGED = {
    "transaction.started",
    "transaction.stopped",
    "payment.settled",
    "fault.raised",
    "fault.cleared",
}


def tell_the_log(published: list[Published]) -> None:
    for e in published:
        if e.type not in LOGGED:
            continue
        tx = getattr(e, "transaction_id", None)
        detail = " ".join(
            str(v)
            for v in (tx, getattr(e, "code", None), getattr(e, "reason", None))
            if v is not None
        )
        logging.getLogger("pile_controller").info(
            "connector %d: %s %s",
            e.connector,
            e.type,
            detail,
            extra={"connector": e.connector, "transaction": tx},
        )
