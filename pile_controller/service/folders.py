"""The folders the daemon writes to, checked before it starts: a journal folder it cannot
write is one line naming the folder and why (owned by another user, a read-only file system,
not a folder at all), not an SQLite error about a file it could not open."""

from __future__ import annotations

import os
import pwd
from pathlib import Path


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def writable_problem(folder: Path) -> str | None:
    """Why the daemon cannot keep files in `folder` (made if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{folder}: not a folder"
    except OSError as exc:
        return f"{folder}: cannot be made: {exc.strerror}"
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return f"{folder}: on a read-only file system"
    if not os.access(folder, os.W_OK | os.X_OK):
        st = folder.stat()
        return (
            f"{folder}: not writable by {user_name(os.geteuid())} (owned by "
            f"{user_name(st.st_uid)}, mode {st.st_mode & 0o777:o})"
        )
    return None
