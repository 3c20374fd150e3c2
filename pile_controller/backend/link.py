"""The one interface between the daemon and a backend link (our MQTT contract, OCPP 1.6J,
OCPP 2.0.1), after EVerest's split of its OCPP module from EvseManager: a connector does the same
whichever backend asked.

A link translates and delivers; it never decides. It

- delivers journaled events in `seq` order and says which the backend acknowledged
  (`Port.undelivered`, `Port.acknowledged`);
- hands the core commands already decoded into core commands, and sends the core's replies as
  its protocol writes them (`Port.execute` with a `Request`);
- says when it comes up and goes down (`Port.up`, `Port.down`): what that means for the pile
  (the screen's offline rule) is the core's to decide.

The daemon offers the `Port` and wires the link's `run` and `close`; it never looks inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pile_controller.core import commands as cmd
from pile_controller.core.connector import Connector
from pile_controller.journal.store import Envelope


@dataclass(frozen=True)
class Answer:
    """A reply as the link sends it. `journal_as`, if given, is the command id it is
    journaled under, in the commit of the events the command caused: a duplicate of the
    command then gets the same reply, and a crash cannot keep the events without it."""

    text: str
    send: Callable[[], None]
    journal_as: str | None = None


@dataclass(frozen=True)
class Request:
    """A command the link has read: the core command, or the link's refusal of it (a schema, a
    signature, an age), and how the link answers a reply."""

    command: cmd.Command | None
    refusal: cmd.Reply | None
    answer: Callable[[cmd.Reply], Answer]


class Port(Protocol):
    """What the daemon offers a link."""

    def now(self) -> datetime: ...

    def connectors(self) -> dict[int, Connector]:
        """The connectors as they stand, to be read (for statuses), never changed."""
        ...

    def execute(self, request: Request) -> None:
        """Runs the command through the core, journals what it caused with the reply, then
        sends the reply (`Answer.send`)."""
        ...

    def replied(self, command_id: str) -> str | None:
        """The journaled reply to a command already handled, for its duplicate."""
        ...

    def undelivered(self, after: int, limit: int) -> list[Envelope]:
        """Journaled events after `seq` `after`, oldest first, as far as they are on disk."""
        ...

    def acknowledged(self, seq: int) -> None:
        """The backend has event `seq`: it leaves the journal with a later batch (a crash before
        then sends it again; a link whose backend does not de-duplicate says how far it got
        with `remember`)."""
        ...

    def remember(self, facts: dict[str, str]) -> None:
        """Journals facts of the link's own (OCPP: how far the CSMS has answered, its
        transaction ids, configuration keys, charging profiles), committed at once."""
        ...

    def recall(self, key: str) -> str | None: ...

    def in_session(self) -> bool:
        """Whether a driver's session runs anywhere (the core's word: OCPP's Reset OnIdle
        waits for none)."""
        ...

    def restart(self, reason: str) -> None:
        """Stops running transactions with `reason` (OCPP's SoftReset, HardReset) and exits
        for systemd to start the daemon again."""
        ...

    def up(self) -> None: ...

    def down(self) -> None: ...


class Link(Protocol):
    role: str  # what it links to, as a technician names it: "broker", "csms"
    protocol: str  # backend.protocol: "mqtt", "ocpp1.6", "ocpp2.0.1"

    @property
    def peer(self) -> str:
        """Where that is: "host:port", a URL."""
        ...

    @property
    def connected(self) -> bool: ...

    @property
    def problem(self) -> str | None:
        """Why it is down, for `pilectl selftest`."""
        ...

    def attach(self, port: Port) -> None: ...

    async def run(self) -> None:
        """Keeps the link up, reconnecting, until `close()`."""
        ...

    def deliver(self) -> None:
        """New events are journaled (and on disk): send what may be sent now."""
        ...

    def status(self, connector: int) -> None:
        """The connector's status changed (or was asked for): tell the backend."""
        ...

    def announce(self) -> None:
        """Say again who the pile is (the backend asked: `trigger online`)."""
        ...

    def close(self) -> None:
        """Say goodbye, and stop reconnecting."""
        ...

    def csms_transaction(self, transaction_id: str | None) -> int | str | None:
        """OCPP: the CSMS's id of the pile's transaction, once it is known (MQTT: None)."""
        ...
