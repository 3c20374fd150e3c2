"""Delivers journaled events in `seq` order, at least once, across outages and restarts.

Events are handed to paho only while connected and only in `seq` order, at most `WINDOW` at a
time; once the broker acknowledges an event (PUBACK), it leaves the journal with the next commit.
After a reconnect paho re-sends what it had in flight (same message ids), and this continues
after the highest `seq` handed over. After a restart everything still in the journal is sent
again: the backend de-duplicates by `(pile, seq)`.

An event the broker refuses (an MQTT 5 PUBACK saying `Not authorized`: an ACL that does not let
the pile publish its events) is not delivered: it stays in the journal, and sending holds until
`resume()` (the next connect, or a while later) starts again from the oldest refused.
"""

from __future__ import annotations

from pile_controller.backend.link import Port
from pile_controller.backend.mqtt.connection import Connection

WINDOW = 100


class Outbox:
    def __init__(self, port: Port, connection: Connection, topic: str):
        self.port, self.connection, self.topic = port, connection, topic
        self.in_flight: dict[int, int] = {}  # paho message id -> seq
        self.handed_up_to = 0
        self.held = False  # the broker refused an event: none sent until `resume()`

    def pump(self) -> None:
        room = WINDOW - len(self.in_flight)
        if room <= 0 or self.held or not self.connection.connected:
            return
        for envelope in self.port.undelivered(self.handed_up_to, room):
            mid = self.connection.publish(self.topic, envelope.payload)
            if mid is None:
                return
            self.in_flight[mid] = envelope.seq
            self.handed_up_to = envelope.seq

    def acked(self, mid: int) -> None:
        seq = self.in_flight.pop(mid, None)
        if seq is not None:
            self.port.acknowledged(seq)
            # Refilled a quarter of the window at a time: one journal read for many events,
            # not one each, while the rest stay in flight.
            if len(self.in_flight) <= WINDOW - WINDOW // 4:
                self.pump()

    def refused(self, mid: int) -> int | None:
        """The broker refused message `mid`; returns its seq if it was an event."""
        seq = self.in_flight.pop(mid, None)
        if seq is not None:
            self.held = True
            self.handed_up_to = min(self.handed_up_to, seq - 1)  # sent again from there
        return seq

    def resume(self) -> None:
        self.held = False
        self.pump()
