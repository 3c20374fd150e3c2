"""How the pile keeps trying when something it needs is away (the broker, a meter), and how
often it says so: one rule each, for every place that retries or logs a lasting problem."""

from __future__ import annotations

import random
from collections.abc import Hashable


class Backoff:
    """Exponential backoff, min(cap, base * 2**n), with full jitter by default: a random wait
    below that ceiling, which keeps a thousand piles coming back after a broker restart from
    knocking at once. Without jitter (a meter on the pile's own bus) the wait is the ceiling,
    so a dead device is never asked again at once."""

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 60.0,
        rng: random.Random | None = None,
        jitter: bool = True,
    ):
        self.base, self.cap, self.attempt, self.jitter = base, cap, 0, jitter
        self.rng = rng or random.Random()

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling

    def reset(self) -> None:
        self.attempt = 0


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
