"""Reconnection waits: exponential with full jitter, capped, reset after a success."""

import random

from hal.backoff import Backoff
from pile_controller.retry import RateLimit


def test_waits_are_random_below_a_doubling_ceiling_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=60.0, rng=random.Random(7))
    waits = [backoff.next() for _ in range(12)]
    ceilings = [min(60.0, 0.5 * 2**n) for n in range(12)]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert len({round(w, 6) for w in waits}) == 12, "jittered, not a fixed schedule"


def test_a_fleet_does_not_reconnect_in_lockstep() -> None:
    piles = [Backoff(rng=random.Random(seed)) for seed in range(1000)]
    for b in piles:
        for _ in range(5):
            b.next()
    sixth = sorted(b.next() for b in piles)  # ceiling 16 s
    assert sixth[0] < 1.0 and sixth[-1] > 15.0
    assert sixth[500] > 4.0  # spread across the window, not bunched at its start


def test_reset_starts_again_from_the_base() -> None:
    backoff = Backoff(base=0.5, rng=random.Random(1))
    for _ in range(10):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 0.5


def test_a_failure_that_keeps_coming_is_said_once_then_at_most_once_a_minute() -> None:
    now = [0.0]
    limit = RateLimit(every_s=60.0, clock=lambda: now[0])
    said = []
    for _ in range(200):  # an attempt every 0.5 s for 100 s
        if (count := limit.seen()) is not None:
            said.append((now[0], count))
        now[0] += 0.5
    assert said == [(0.0, 1), (60.0, 121)]
    assert limit.clear() == 200
    assert limit.seen() == 1  # a new outage is said at once
