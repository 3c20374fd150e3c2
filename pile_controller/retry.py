"""How often the pile says that something it needs is away (the broker, a meter): one rule
each, for every place that logs a lasting problem. How it keeps trying is `hal/backoff.py`'s
`Backoff`, one rule for the meters on its bus and the backend alike."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Hashable


class Throttle:
    """Whether to log a problem that keeps coming: the first time, then every `every`-th. A
    meter that is missing, a broker that is down or a bug hit on every tick must not fill the
    pile's SD card with the same line."""

    def __init__(self, every: int):
        self.every = every
        self._seen: dict[Hashable, int] = {}

    def seen(self, key: Hashable = None) -> int | None:
        """Counts one more; returns the count so far if this one is to be logged, else None."""
        count = self._seen[key] = self._seen.get(key, 0) + 1
        return count if count % self.every == 1 or self.every == 1 else None

    def clear(self, key: Hashable = None) -> int:
        """The problem is over; returns how often it was seen (0: it was not going on)."""
        return self._seen.pop(key, 0)


class RateLimit:
    """Whether to log a failure that keeps coming, by time rather than by count: the first
    time, then at most once every `every_s` (a broker retried with backoff fails at an uneven
    pace; the operator reads "at most once a minute", CONTRACT 9.1)."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic):
        self.every_s, self.clock = every_s, clock
        self._count, self._said_at = 0, -float("inf")

    def seen(self) -> int | None:
        """Counts one more; returns the count so far if this one is to be logged, else None."""
        self._count += 1
        now = self.clock()
        if self._count > 1 and now - self._said_at < self.every_s:
            return None
        self._said_at = now
        return self._count

    @property
    def count(self) -> int:
        """Failures seen since the last `clear()`."""
        return self._count

    def clear(self) -> int:
        """The failures are over; returns how many there were (0: none)."""
        count, self._count, self._said_at = self._count, 0, -float("inf")
        return count


class Bugs:
    """Logs the exception being handled, with its traceback, the first time it is seen at a
    place and then every 100th time: a bug hit on every tick (ten a second) must not fill the
    pile's disk with tracebacks."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self._seen = Throttle(every=100)  # by (where, exception type)

    def seen(self, where: str, subject: str) -> None:
        exc_type = sys.exc_info()[0]
        if count := self._seen.seen((where, exc_type.__name__ if exc_type else "?")):
            self.log.exception("%s failed (%d times so far): %s", where, count, subject)
