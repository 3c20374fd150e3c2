"""The daemon's last log lines, kept in memory for a diagnostics archive (`diagnostics.py`):
the pile's log is journald's (or stderr's), which the daemon cannot be sure to read back.
Small on purpose: it is installed at every start, the archive's machinery only on request."""

from __future__ import annotations

import collections
import logging


class RecentLog(logging.Handler):
    """The last `keep` log lines, in memory, for the archive: the pile's log is journald's (or
    stderr's), which the daemon cannot be sure to read back."""

    def __init__(self, keep: int = 2000):
        super().__init__()
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)


RECENT = RecentLog()  # installed on the root logger by the daemon's start
