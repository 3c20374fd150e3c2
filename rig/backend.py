"""A scripted backend: sends commands to a pile and watches everything it publishes."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pile_controller.core.times import iso


@dataclass(frozen=True)
class Message:
    topic: str
    payload: Any  # parsed JSON, or the raw bytes if not JSON
    retained: bool
    correlation: bytes | None
    at: float  # time.monotonic() on arrival


def in_minutes(minutes: float) -> str:
    """A contract timestamp `minutes` from now (for `expires_at`)."""
    return iso(datetime.now(UTC) + timedelta(minutes=minutes))


def no_delay(_client: Any, _userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # replies are timed in benchmarks


class Backend:
    def __init__(
        self,
        port: int,
        pile_id: str,
        prefix: str = "piles",
        sign: Any = None,
        mqtt_version: str = "5",
        tls: ssl.SSLContext | None = None,
    ):
        self.base = f"{prefix}/{pile_id}"
        self.port = port
        self.v5 = mqtt_version == "5"  # "3.1.1" for the brokers that speak nothing newer
        self.sign = sign  # callable(dict) -> base64 signature, for signed-command piles
        self.messages: list[Message] = []
        self.listeners: list[Callable[[Message], None]] = []  # called for each arrival
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"backend-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
        )
        if tls is not None:
            self.client.tls_set_context(tls)
        self.client.on_message = self._received
        self.client.on_socket_open = no_delay
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(f"{self.base}/#", 1), (f"rig/{self.base}/responses", 1)]
        )

    def connect(self) -> Backend:
        # A persistent session, as a real backend keeps: what the pile publishes while this
        # client is cut off (a broker restart) is queued for it, not lost to the test.
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        else:  # 3.1.1: the session was made persistent when the client was made
            self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        return self

    def close(self) -> None:
        # Disconnect first: the network thread then ends at once. Stopped first, it sleeps
        # out its select timeout (about a second) before it sees it is to stop.
        self.client.disconnect()
        self.client.loop_stop()

    def _received(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload: Any = json.loads(msg.payload)
        except (ValueError, RecursionError):  # a hostile command of the test's own, seen back
            payload = msg.payload
        correlation = getattr(msg.properties, "CorrelationData", None)
        message = Message(msg.topic, payload, bool(msg.retain), correlation, time.monotonic())
        for listener in self.listeners:
            listener(message)
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    # --- sending -------------------------------------------------------------------------------

    def command(
        self,
        name: str,
        *,
        command_id: str | None = None,
        response_topic: bool = False,
        **fields: Any,
    ) -> str:
        """Sends P/ID/cmd/NAME with a fresh id (or the given one); returns the id."""
        command_id, payload = self.envelope(command_id, **fields)
        self.raw(name, payload, response_topic=response_topic, correlation=command_id)
        return command_id

    def envelope(self, command_id: str | None = None, **fields: Any) -> tuple[str, str]:
        """A command's id and JSON text: the given fields with `v`, `id`, `ts` (and `sig`)."""
        command_id = command_id or str(uuid.uuid4())
        body = {"v": 1, "id": command_id, "ts": iso(datetime.now(UTC)), **fields}
        if self.sign is not None:
            body["sig"] = self.sign(body)
        return command_id, json.dumps(body)

    def raw(
        self,
        name: str,
        payload: str | bytes,
        *,
        response_topic: bool = False,
        correlation: str | None = None,
        retain: bool = False,
        acknowledged: bool = True,
    ) -> None:
        """Publishes a command's payload as given; waits for the broker's PUBACK unless not
        `acknowledged` (a burst: paho keeps the order)."""
        props = None
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = f"rig/{self.base}/responses"
            props.CorrelationData = (correlation or "").encode()
        info = self.client.publish(
            f"{self.base}/cmd/{name}", payload, qos=1, retain=retain, properties=props
        )
        if acknowledged:
            info.wait_for_publish(5)

    def ask(self, name: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Sends a command and waits for its reply."""
        return self.reply(self.command(name, **fields), timeout)

    # --- watching ------------------------------------------------------------------------------

    def wait(
        self, match: Callable[[Message], bool], timeout: float = 10.0, since: int = 0
    ) -> Message:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages[since:]:
                    if match(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(f"  {m.topic} {m.payload}" for m in self.messages[-15:])
                    raise TimeoutError(f"nothing matched within {timeout}s; last seen:\n{seen}")
                self._cond.wait(left)

    def wait_all(
        self, match: Callable[[Message], bool], count: int, since: int, timeout: float = 10.0
    ) -> list[Message]:
        """Waits until `count` messages after `since` match; all that match."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := [m for m in self.messages[since:] if match(m)]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} matched within {timeout}s")
                self._cond.wait(left)
            return found

    def reply(self, command_id: str | None, timeout: float = 10.0) -> dict[str, Any]:
        m = self.wait(
            lambda m: (
                m.topic == f"{self.base}/replies"
                and isinstance(m.payload, dict)
                and m.payload.get("id") == command_id
            ),
            timeout,
        )
        return dict(m.payload)

    def replies(self, command_id: str | None) -> list[dict[str, Any]]:
        return [
            m.payload
            for m in self.snapshot()
            if m.topic == f"{self.base}/replies"
            and isinstance(m.payload, dict)
            and m.payload.get("id") == command_id
        ]

    def mark(self) -> int:
        """A cursor: waits given `since=mark()` look only at what arrives after this call."""
        with self._cond:
            return len(self.messages)

    def event(
        self, type_: str, timeout: float = 10.0, since: int = 0, **data: Any
    ) -> dict[str, Any]:
        """Waits for an event of `type_` whose data has the given values."""

        def match(m: Message) -> bool:
            p = m.payload
            return (
                m.topic == f"{self.base}/events"
                and isinstance(p, dict)
                and p.get("type") == type_
                and all(p["data"].get(k) == v for k, v in data.items())
            )

        return dict(self.wait(match, timeout, since).payload)

    def status(
        self, connector: int, timeout: float = 10.0, since: int = 0, **fields: Any
    ) -> dict[str, Any]:
        """Waits for a status of `connector` with the given field values."""
        topic = f"{self.base}/connectors/{connector}/status"

        def match(m: Message) -> bool:
            return (
                m.topic == topic
                and isinstance(m.payload, dict)
                and all(m.payload.get(k) == v for k, v in fields.items())
            )

        return dict(self.wait(match, timeout, since).payload)

    def online(self, timeout: float = 10.0, online: bool = True) -> dict[str, Any]:
        m = self.wait(
            lambda m: (
                m.topic == f"{self.base}/online"
                and isinstance(m.payload, dict)
                and m.payload.get("online") is online
            ),
            timeout,
        )
        return dict(m.payload)

    def snapshot(self) -> list[Message]:
        with self._cond:
            return list(self.messages)

    def events(self) -> list[dict[str, Any]]:
        return [m.payload for m in self.snapshot() if m.topic == f"{self.base}/events"]
