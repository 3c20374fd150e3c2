"""Periodic meter samples held in memory for the next commit.

A step that only sampled the meters is not worth a commit and a flush of its own on an SD
card (a flush writes whole 4 KiB pages: a 500-byte sample cost 8-20 KB). Its events wait, in
order, for the next commit, at most `policy.SAMPLES_HELD` on the pile's clock or
`policy.SAMPLES_HELD_MAX` of them. Not yet numbered, a held sample lost in a crash leaves no
gap in seq; the bill never rests on one (a stop reads the meter, and a restarted daemon stops
a session cut off on the meter's first reading).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pile_controller.core import effects as fx
from pile_controller.core.published import MeterValues, Published
from pile_controller.service import policy


def only_samples(effects: list[fx.Effect]) -> bool:
    """Whether a step published periodic meter samples and nothing else that must be on disk
    first (no other event, no tariff, no relay, lock or pilot to move)."""
    samples = [e for e in effects if isinstance(e, fx.Publish)]
    return bool(samples) and all(
        isinstance(e, fx.PublishStatus | fx.Redraw)
        or (
            isinstance(e, fx.Publish)
            and isinstance(e.event, MeterValues)
            and e.event.context == "Sample.Periodic"
        )
        for e in effects
    )


class HeldSamples:
    def __init__(self) -> None:
        self.events: list[Published] = []
        self.since: datetime | None = None

    def hold(self, samples: list[Published], now: datetime) -> None:
        if not self.events:
            self.since = now
        self.events += samples

    def release(self) -> list[Published]:
        """The held events, to go first into a commit: each connector's in the order the core
        made them, one connector's after another's (an OCPP link then sends a connector's run
        of samples as one MeterValues: one answer, one commit, where each was one)."""
        events, self.events, self.since = self.events, [], None
        return sorted(events, key=lambda e: e.connector or 0)

    def due(self, now: datetime) -> bool:
        """Whether they have waited long enough (on the pile's clock; one stepped back does
        not hold them)."""
        if self.since is None:
            return False
        age = now - self.since
        return len(self.events) >= policy.SAMPLES_HELD_MAX or not (
            timedelta(0) <= age < policy.SAMPLES_HELD
        )
