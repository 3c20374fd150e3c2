"""Sharing a site's grid connection between connectors (CONTRACT §9.2): pure, so that every
rule can be held by property tests. The core calls it whenever a session starts or stops, a
limit changes or a reading shows a vehicle using less than it is offered.

- Every connector whose PWM is on asks (`Claim`): at most its own limit, the least of its
  `max_current_a`, its cable's ampacity and the backend's `limit`.
- With no site limit, or enough for all, each gets its own limit.
- Otherwise the site's current is shared equally; a connector whose own limit is below its
  share gets its own limit and the rest is shared among the others.
- Nobody is offered less than 6 A (a vehicle cannot charge on less): when 6 A each is not
  possible, the longest-running sessions are served first and the others wait with 0 A
  (`SuspendedEVSE`).
- Current a vehicle leaves unused is the core's to notice (it measures for 30 s first): it then
  claims what it uses, and the rest goes to the others.

Offers are rounded down to 0.1 A, so their sum never exceeds the site limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from hal.pilot import MIN_A


@dataclass(frozen=True)
class Claim:
    connector: int
    limit: float  # the most this connector may be offered
    since: datetime  # when its session began (or was authorised): the earlier, the first served


def share(site_limit: float | None, claims: list[Claim]) -> dict[int, float]:
    """Each claiming connector's offer in amperes: 0, or 6 A and more."""
    offers = {c.connector: 0.0 for c in claims}
    able = [c for c in claims if c.limit >= MIN_A]  # under 6 A: paused, not counted
    if site_limit is None or sum(c.limit for c in able) <= site_limit:
        offers.update({c.connector: down(c.limit) for c in able})
        return offers
    served = sorted(able, key=lambda c: (c.since, c.connector))
    while served and len(served) * MIN_A > site_limit:
        served.pop()  # the most recent session waits
    left = site_limit
    pending = sorted(served, key=lambda c: c.limit)
    while pending:
        fair = left / len(pending)
        if pending[0].limit > fair:
            offers.update({c.connector: down(fair) for c in pending})
            break
        smallest = pending.pop(0)
        offers[smallest.connector] = down(smallest.limit)
        left -= smallest.limit
    return offers


def down(amps: float) -> float:
    """Rounded down to 0.1 A, and never above `amps` (floats are not exact in tenths)."""
    tenths = math.floor(amps * 10)
    if tenths / 10 > amps:
        tenths -= 1
    return tenths / 10
