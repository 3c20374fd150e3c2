"""What the pile says to the backend besides events: the birth (and its Last Will), connector
statuses and replies to commands, as CONTRACT §3 and §5 write them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pile_controller import __version__
from pile_controller.backend.mqtt.connection import Connection
from pile_controller.backend.mqtt.topics import Topics
from pile_controller.backend.wire import compact
from pile_controller.config import Settings
from pile_controller.core.times import iso


@dataclass(frozen=True)
class Birth:
    """`P/ID/online`: the retained birth on every connect, and the Last Will that ends it."""

    settings: Settings
    public_key: str  # base64 of the pile's own Ed25519 key, which signs its receipts
    started: datetime  # the time the Last Will carries
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def message(self, online: bool, now: datetime) -> bytes:
        s = self.settings
        body: dict[str, Any] = {"v": 1, "online": online, "pile": s.pile.id}
        body["boot_id"] = self.boot_id
        if online:
            body |= {
                "firmware": __version__,
                "connectors": sorted(c.id for c in s.connectors),
                "location": {"lat": s.pile.location.lat, "lon": s.pile.location.lon},
                "public_key": self.public_key,
            }
        body["ts"] = iso(now)
        return compact(body).encode()


def send_reply(link: Connection, topics: Topics, text: str, msg: mqtt.MQTTMessage) -> None:
    """On `P/ID/replies`, and on the MQTT 5 response topic with the correlation data when the
    command carried them. Written to the socket at once: the backend is waiting."""
    link.publish(topics.replies, text, now=True)
    asked = getattr(msg, "properties", None)
    response_topic = getattr(asked, "ResponseTopic", None)
    if response_topic:
        props = Properties(PacketTypes.PUBLISH)
        correlation = getattr(asked, "CorrelationData", None)
        if correlation is not None:
            props.CorrelationData = correlation
        link.publish(response_topic, text, properties=props, now=True)
