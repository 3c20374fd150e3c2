"""deploy/mosquitto/, the fleet's broker config we ship, run as shipped (only its paths and port
changed): every client shows a certificate from the fleet's CA, its CN is its identity, and the
ACL lets a pile at its own topics only. Pile B is the real daemon; pile A is a client with A's
genuine certificate that tries to speak for B, command B, hear B's commands, and take over B's
session."""

from __future__ import annotations

import getpass
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rig.backend import Backend
from rig.broker import Broker
from rig.certs import Authority, Issued
from rig.pile import PileProcess
from tests.e2e.test_tls import tls_lines

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"

pytestmark = pytest.mark.wall_clock("a real broker and TLS clients")


class FleetBroker(Broker):
    """mosquitto with deploy/mosquitto/pile-fleet.conf and its ACL, as shipped."""

    def __init__(self, workdir: Path, pki: Pki):
        self.pki = pki
        super().__init__(workdir)

    def configure(self, options: str | None) -> None:
        text = (DEPLOY / "pile-fleet.conf").read_text()
        for shipped, here in {
            "listener 8883\n": f"listener {self.port} 127.0.0.1\n",
            "/etc/mosquitto/pile-fleet.acl": str(DEPLOY / "pile-fleet.acl"),
            "/etc/mosquitto/certs/fleet-ca.pem": str(self.pki.ca.cert),
            "/etc/mosquitto/certs/broker.pem": str(self.pki.broker.cert),
            "/etc/mosquitto/certs/broker.key": str(self.pki.broker.key),
            "/var/lib/mosquitto/": f"{self.workdir}/",
        }.items():
            assert shipped in text, f"pile-fleet.conf no longer has {shipped!r}"
            text = text.replace(shipped, here)
        self.conf = self.workdir / "mosquitto.conf"
        # As in the rig's other brokers: started as root, it would drop to its own user.
        self.conf.write_text(text + f"user {getpass.getuser()}\n")


@dataclass
class Pki:
    ca: Authority
    broker: Issued
    backend: Issued
    a: Issued
    b: Issued


def client_context(pki: Pki, issued: Issued) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.load_cert_chain(str(issued.cert), str(issued.key))
    return ctx


@dataclass
class Rogue:
    """An MQTT 5 client with pile A's certificate."""

    client: mqtt.Client
    received: list[mqtt.MQTTMessage] = field(default_factory=list)
    acks: dict[int, str] = field(default_factory=dict)  # mid -> PUBACK reason
    granted: list[str] = field(default_factory=list)  # SUBACK reasons
    cond: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> str:
        info = self.client.publish(topic, json.dumps(payload), qos=1, retain=retain)
        return self.wait(lambda: self.acks.get(info.mid))

    def subscribe(self, topic: str) -> str:
        before = len(self.granted)
        self.client.subscribe(topic, qos=1)
        return self.wait(lambda: self.granted[before] if len(self.granted) > before else None)

    def wait(self, got: Any, timeout: float = 10) -> Any:
        with self.cond:
            assert self.cond.wait_for(got, timeout), "no answer from the broker"
            return got()

    def note(self, what: Any) -> None:
        with self.cond:
            what()
            self.cond.notify_all()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Pki, FleetBroker, PileProcess, Backend]]:
    ca = Authority(tmp_path / "pki", "Fleet CA")
    pki = Pki(
        ca,
        ca.issue("broker", server=True),
        ca.issue("backend"),
        ca.issue("PILE-A"),
        ca.issue("PILE-B"),
    )
    with FleetBroker(tmp_path / "broker", pki) as broker:
        pile = PileProcess(
            tmp_path, broker.port, pile_id="PILE-B", backend_extra=tls_lines(ca.cert, pki.b)
        )
        backend = Backend(broker.port, "PILE-B", tls=client_context(pki, pki.backend))
        try:
            backend.connect()
            pile.start()
            backend.online()
            yield pki, broker, pile, backend
        finally:
            backend.close()
            pile.stop()


def rogue_as_a(pki: Pki, port: int) -> Rogue:
    # With the client id of pile B: the broker must not let it cut B's session off.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pile-PILE-B", protocol=mqtt.MQTTv5)
    client.tls_set_context(client_context(pki, pki.a))
    rogue = Rogue(client)
    client.on_message = lambda _c, _u, m: rogue.note(lambda: rogue.received.append(m))
    client.on_publish = lambda _c, _u, mid, rc, _p: rogue.note(
        lambda: rogue.acks.__setitem__(mid, str(rc))
    )
    client.on_subscribe = lambda _c, _u, _mid, rcs, _p: rogue.note(
        lambda: rogue.granted.extend(str(rc) for rc in rcs)
    )
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(10)
    return rogue


def test_a_pile_can_neither_speak_for_another_nor_hear_its_commands(fleet: Any) -> None:
    pki, broker, pile, be = fleet
    rogue = rogue_as_a(pki, broker.port)
    try:
        forged = {"v": 1, "rogue": True, "id": "rogue-1", "ts": "2026-12-01T00:00:00.000Z"}
        for topic in (
            "piles/PILE-B/online",
            "piles/PILE-B/connectors/1/status",
            "piles/PILE-B/events",
            "piles/PILE-B/replies",
            "piles/PILE-B/cmd/stop",
            "piles/PILE-A/cmd/stop",  # nor command itself
        ):
            assert rogue.publish(topic, forged, retain=topic.endswith("online")) == (
                "Not authorized"
            ), topic
        own = rogue.publish("piles/PILE-A/events", {"rogue": "own"})  # its own: allowed
        assert own in ("Success", "No matching subscribers")
        be_mark = be.mark()

        for topic in ("piles/PILE-B/cmd/#", "piles/#", "piles/PILE-A/cmd/#"):
            rogue.subscribe(topic)
        cid = be.command("trigger", what="status")  # to B: B hears it, A must not
        assert be.reply(cid)["status"] == "Accepted"
        be.status(1, since=be_mark)  # what B sends after its reply: the statuses asked for
        be.client.publish("piles/PILE-A/cmd/trigger", b'{"to":"A"}', qos=1).wait_for_publish(5)
        rogue.wait(lambda: rogue.received)
        # Anything of B's it could read would have come first: B answered, and sent its
        # statuses, before this was sent.
        # (A copy for each of its subscriptions that matches: MQTT 5 allows that.)
        assert {(m.topic, m.payload) for m in rogue.received} == {
            ("piles/PILE-A/cmd/trigger", b'{"to":"A"}')
        }
    finally:
        rogue.client.loop_stop()
        rogue.client.disconnect()

    # The backend reads everything of B's, and nothing forged in B's name reached it.
    seen = be.snapshot()
    assert not [m for m in seen if isinstance(m.payload, dict) and m.payload.get("rogue") is True]
    assert be.replies("rogue-1") == []  # B never ran the forged stop
    assert any(m.topic == "piles/PILE-B/connectors/1/status" for m in seen[be_mark:])
    # B kept its session: one birth, and its link never dropped.
    births = [m for m in seen if m.topic.endswith("/online") and m.payload.get("online") is True]
    assert len(births) == 1 and "backend link lost" not in pile.logs()
    assert pile.status()["backend"]["connected"]
