"""The MQTT contract (CONTRACT §3-§5, §9.1) as a backend link: the topics, the birth and its
Last Will, statuses, commands read and checked into core commands, a duplicate command id
answered with its journaled reply, the outbox, and what to do when the broker refuses an event.
The connection itself (paho, reconnects, TLS) is `connection.py`'s."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from datetime import timedelta

import paho.mqtt.client as mqtt

from pile_controller.backend.link import Answer, Port, Request
from pile_controller.backend.mqtt import commands as incoming
from pile_controller.backend.mqtt.connection import Connection
from pile_controller.backend.mqtt.messages import Birth, send_reply
from pile_controller.backend.mqtt.outbox import Outbox
from pile_controller.backend.mqtt.topics import Topics
from pile_controller.backend.wire import compact, status_message
from pile_controller.config import Settings
from pile_controller.core import commands as cmd
from pile_controller.retry import Bugs, RateLimit

log = logging.getLogger("pile_controller")
# Events the broker refused (MQTT 5, an ACL) are sent again after this, or at the next connect.
REFUSED_RETRY_S = 60


class MqttLink:
    role = "broker"
    protocol = "mqtt"

    def __init__(
        self,
        settings: Settings,
        birth: Birth,
        tls: ssl.SSLContext | None = None,
        connection: Connection | None = None,
    ):
        """`connection`: a stand-in for the broker's, in tests."""
        backend = settings.backend
        self.topics = Topics(backend.topic_prefix, settings.pile.id)
        self.birth = birth
        self.security = incoming.Security(
            backend.public_key, timedelta(seconds=backend.max_clock_skew_s)
        )
        self.connection = connection or Connection(
            backend,
            client_id=f"pile-{settings.pile.id}",
            will=(self.topics.online, birth.message(False, birth.started)),
            tls=tls,
        )
        self._refusals = RateLimit(every_s=60.0)  # messages the broker said no to
        self._bugs = Bugs(log)
        self._resume_later: asyncio.TimerHandle | None = None

    @property
    def peer(self) -> str:
        return self.connection.where()

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def problem(self) -> str | None:
        return self.connection.problem

    def attach(self, port: Port) -> None:
        self.port = port
        self.outbox = Outbox(port, self.connection, self.topics.events)
        self.connection.attach(self._connected, self._received, self._acked, port.down)

    async def run(self) -> None:
        await self.connection.run()

    def deliver(self) -> None:
        self.outbox.pump()

    def status(self, connector: int) -> None:
        status = status_message(self.port.connectors()[connector], self.port.now())
        self.connection.publish(self.topics.status(connector), compact(status), retain=True)

    def announce(self) -> None:
        online = self.birth.message(True, self.port.now())
        self.connection.publish(self.topics.online, online, retain=True)

    def close(self) -> None:
        last_words = (self.topics.online, self.birth.message(False, self.port.now()))
        self.connection.close(last_words)
        if self._resume_later is not None:
            self._resume_later.cancel()

    def csms_transaction(self, transaction_id: str | None) -> int | None:
        return None  # the pile's transaction ids are the backend's

    # --- the broker's side ---------------------------------------------------------------------

    def _connected(self) -> None:
        self.port.up()
        # Subscribed first: the broker takes our packets in order, so whoever sees the birth
        # can command the pile (a command sent on seeing it had raced the subscription and,
        # on a first connection, was lost).
        self.connection.subscribe(self.topics.commands)
        self.announce()
        for cid in self.port.connectors():
            self.status(cid)
        self._resume_outbox()  # refused events too: perhaps the broker's ACL was mended

    def _received(self, msg: mqtt.MQTTMessage) -> None:
        name = self.topics.command_name(msg.topic)
        if name is None or (name == "tariff" and not msg.payload):
            return  # clearing the retained tariff (an empty message) is not a command
        try:
            decoded = incoming.decode(name, bytes(msg.payload), self.port.now(), self.security)
        except Exception:  # a bug in reading it: the backend is still answered
            self._bugs.seen(f"command {name}", repr(msg.payload[:200]))
            decoded = incoming.Decoded(None, refusal=cmd.rejected("InternalError"))
        if decoded.remembered and (previous := self.port.replied(decoded.id or "")):
            send_reply(self.connection, self.topics, previous, msg)
            return
        if decoded.refusal is not None:
            detail = f" ({decoded.detail!a})" if decoded.detail else ""
            log.info(
                "command %s (id %r) refused: %s%s",
                name,
                decoded.id,
                decoded.refusal.reason,
                detail,
            )
        self.port.execute(Request(decoded.command, decoded.refusal, self._answer(decoded, msg)))

    def _answer(
        self, decoded: incoming.Decoded, msg: mqtt.MQTTMessage
    ) -> Callable[[cmd.Reply], Answer]:
        """How a reply to this command is sent: on `P/ID/replies` (and the response topic),
        journaled under its id if that is one to remember."""
        journal_as = decoded.id if decoded.remembered else None

        def answer(reply: cmd.Reply) -> Answer:
            text = incoming.reply_json(decoded.id, reply)
            return Answer(
                text, lambda: send_reply(self.connection, self.topics, text, msg), journal_as
            )

        return answer

    def _acked(self, mid: int, refusal: str | None) -> None:
        if refusal is None:
            self.outbox.acked(mid)  # the event leaves the journal with the next commit
            return
        # The broker said no (MQTT 5: an ACL that does not let the pile publish there). A
        # refused event is not delivered: it stays journaled and is sent again.
        seq = self.outbox.refused(mid)
        if seq is not None and self._resume_later is None:
            self._resume_later = asyncio.get_running_loop().call_later(
                REFUSED_RETRY_S, self._resume_outbox
            )
        if self._refusals.seen() is not None:
            what = f"event seq {seq}" if seq is not None else "a birth, status or reply"
            log.error(
                "the broker refused %s: %s (does its ACL let this pile publish under %s?); "
                "events stay in the journal and are sent again at the next connect or in %d s",
                what,
                refusal,
                self.topics.base,
                REFUSED_RETRY_S,
            )

    def _resume_outbox(self) -> None:
        if self._resume_later is not None:
            self._resume_later.cancel()
            self._resume_later = None
        self.outbox.resume()
