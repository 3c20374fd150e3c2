"""Delivers journaled events in `seq` order, at least once, across outages and restarts.

Events are handed to paho only while connected and only in `seq` order, at most `WINDOW` at a
time; once the broker acknowledges an event (PUBACK), it leaves the journal with the next commit.
After a reconnect paho re-sends what it had in flight (same message ids), and this continues
after the highest `seq` handed over. After a restart everything still in the journal is sent
again: the backend de-duplicates by `(pile, seq)`.
"""

from __future__ import annotations

from pile_controller.backend.link import Link
from pile_controller.store import Store

WINDOW = 100


class Outbox:
    def __init__(self, store: Store, link: Link, topic: str):
        self.store, self.link, self.topic = store, link, topic
        self.in_flight: dict[int, int] = {}  # paho message id -> seq
        self.handed_up_to = 0

    def pump(self) -> None:
        room = WINDOW - len(self.in_flight)
        if room <= 0 or not self.link.connected:
            return
        for envelope in self.store.undelivered(after=self.handed_up_to, limit=room):
            mid = self.link.publish(self.topic, envelope.payload)
            if mid is None:
                return
            self.in_flight[mid] = envelope.seq
            self.handed_up_to = envelope.seq

    def acked(self, mid: int) -> None:
        seq = self.in_flight.pop(mid, None)
        if seq is not None:
            self.store.delivered(seq)
            # Refilled a quarter of the window at a time: one journal read for many events,
            # not one each, while the rest stay in flight.
            if len(self.in_flight) <= WINDOW - WINDOW // 4:
                self.pump()
