"""A backend link held in memory: the second implementation of `backend/link.py`'s interface,
with no protocol at all. A test commands the pile with core commands and reads the events, replies
and statuses it would have sent; the daemon cannot tell it from MQTT or OCPP, which is the point.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from pile_controller.backend.link import Answer, Port, Request
from pile_controller.core import commands as cmd


@dataclass(frozen=True)
class Replied:
    command: cmd.Command
    reply: cmd.Reply


class MemoryLink:
    role = "backend"
    protocol = "memory"
    peer = "memory"

    def __init__(self, reachable: bool = True):
        """`reachable`: False for a backend that never answers (the link never comes up)."""
        self.reachable = reachable
        self.connected = False
        self.problem: str | None = None if reachable else "unreachable"
        self.events: list[dict[str, Any]] = []  # as journaled, in the order delivered
        self.replies: list[Replied] = []
        self.statuses: list[int] = []  # connectors whose status was sent
        self.announced = 0
        self._handed_up_to = 0
        self._closed = asyncio.Event()

    def attach(self, port: Port) -> None:
        self.port = port

    async def run(self) -> None:
        if self.reachable:
            self.connected = True
            self.port.up()
            self.announce()
            for cid in self.port.connectors():
                self.status(cid)
            self.deliver()
        await self._closed.wait()

    def deliver(self) -> None:
        if not self.connected:
            return
        for envelope in self.port.undelivered(self._handed_up_to, 100):
            self.events.append(json.loads(envelope.payload))
            self._handed_up_to = envelope.seq
            self.port.acknowledged(envelope.seq)

    def status(self, connector: int) -> None:
        if self.connected:
            self.statuses.append(connector)

    def announce(self) -> None:
        self.announced += 1

    def close(self) -> None:
        self.connected = False
        self._closed.set()

    def csms_transaction(self, transaction_id: str | None) -> int | None:
        return None

    # --- the backend's side --------------------------------------------------------------------

    def command(self, command: cmd.Command) -> cmd.Reply:
        """Sends `command` to the pile; its reply, as soon as the core gave it."""

        def answer(reply: cmd.Reply) -> Answer:
            return Answer(str(reply), lambda: self.replies.append(Replied(command, reply)))

        self.port.execute(Request(command, None, answer))
        return self.replies[-1].reply

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]
