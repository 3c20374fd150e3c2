"""sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET, if systemd gave one."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> None:
    """`READY=1` once every connector is restored, `WATCHDOG=1` while healthy, `STOPPING=1`
    when the orderly stop begins (systemd then waits for it instead of calling it a hang)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(state.encode(), address)


def watchdog_interval_s() -> float:
    """How often to ping: a quarter of WatchdogSec (0: no watchdog asked for)."""
    return int(os.environ.get("WATCHDOG_USEC", "0")) / 4e6
