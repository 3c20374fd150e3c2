"""How the pile keeps trying when something it needs is away: a meter on its bus, the backend."""

from __future__ import annotations

import random


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
