"""Who may use the control socket: root, the daemon's own user, and members of its group, by
the peer's credentials (SO_PEERCRED), not by the socket file's mode alone: a mode loosened by
hand, or a socket reached through a bind mount, still lets nobody else in."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path


def peer(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    return pid, uid, gid


def groups_of(pid: int) -> set[int]:
    """The peer's supplementary groups, from /proc (empty if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                return {int(g) for g in line.split()[1:]}
    except OSError:
        pass
    return set()


def refusal(sock: socket.socket) -> str | None:
    """Why this peer may not use the control socket, or None."""
    pid, uid, gid = peer(sock)
    if uid in (0, os.geteuid()):
        return None
    ours = os.getegid()
    if gid == ours or ours in groups_of(pid):
        return None
    return f"not allowed: uid {uid} is neither root, the daemon's user nor in its group"
