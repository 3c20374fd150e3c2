"""Command handling through the MQTT link, in-process, on a connection that records what it is
given: a duplicate id is answered alike and not carried out again; an accepted tariff is
journaled in the same commit as its reply, and comes back after a restart."""

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from hal.interlock import Interlock
from pile_controller import config
from pile_controller.backend.mqtt.link import MqttLink
from pile_controller.backend.mqtt.messages import Birth
from pile_controller.daemon import Daemon
from pile_controller.technician.control import RequestError
from rig.backend import in_minutes
from rig.memory import MemoryLink
from tests.in_process import daemon_with


class Recorder:
    """The broker's connection, up, keeping every publish."""

    connected = True
    problem = None

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def attach(self, *_: Any) -> None: ...

    def publish(self, topic: str, payload: Any, **_: Any) -> int:
        self.sent.append((topic, json.loads(payload)))
        return len(self.sent)

    def replies(self) -> list[Any]:
        return [p for t, p in self.sent if t.endswith("/replies")]


def recording_daemon(tmp_path: Path) -> tuple[Daemon, Recorder]:
    connection = Recorder()

    def link(settings: config.Settings) -> MqttLink:
        birth = Birth(settings, "", started=datetime.now(UTC))
        return MqttLink(settings, birth, connection=connection)  # type: ignore[arg-type]

    daemon, _ = daemon_with(tmp_path, link, connectors=2)
    return daemon, connection


def send(daemon: Daemon, name: str, **fields: Any) -> None:
    msg = mqtt.MQTTMessage(topic=f"piles/{daemon.settings.pile.id}/cmd/{name}".encode())
    msg.payload = json.dumps({"v": 1, "ts": "2026-11-22T03:00:00.000Z", **fields}).encode()
    assert isinstance(daemon.link, MqttLink)
    daemon.link._received(msg)


def test_a_duplicate_id_is_answered_alike_and_not_carried_out_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        daemon, link = recording_daemon(tmp_path)
        reserve = {"reservation_id": "R1", "code": "1234", "id_token": "u"}
        send(daemon, "reserve", id="c-1", connector=1, expires_at=in_minutes(30), **reserve)
        send(daemon, "reserve", id="c-1", connector=2, expires_at=in_minutes(30), **reserve)
        await daemon.flusher.drain()
        assert link.replies() == [{"v": 1, "id": "c-1", "status": "Accepted"}] * 2
        assert [c.state for c in daemon.pile.connectors.values()] == ["reserved", "idle"]
        accepted = [e for e in daemon.store.undelivered() if "reservation.accepted" in e.payload]
        assert len(accepted) == 1
        daemon.store.close()

    asyncio.run(scenario())


def test_an_accepted_tariff_is_journaled_with_its_reply_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    tariff = {"tariff_id": "T-9", "currency": "CNY", "energy_price": "2.00", "service_fee": "0"}

    async def first() -> None:
        daemon, link = recording_daemon(tmp_path)
        send(daemon, "tariff", id="t-1", **tariff)
        assert link.replies() == [{"v": 1, "id": "t-1", "status": "Accepted"}]
        assert json.loads(daemon.store.get("tariff") or "{}")["tariff_id"] == "T-9"
        assert daemon.store.reply_for("t-1") is not None
        await daemon.flusher.drain()
        daemon.store.close()

    async def after_restart() -> None:
        daemon, _ = recording_daemon(tmp_path)
        daemon.restore()
        assert daemon.pile.ctx.tariff.tariff_id == "T-9"
        daemon.store.close()

    asyncio.run(first())
    asyncio.run(after_restart())


def test_a_refused_tariff_leaves_the_journaled_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        daemon, link = recording_daemon(tmp_path)
        send(daemon, "tariff", id="t-2", tariff_id="T-X", currency="CNY", energy_price="١.٠")
        assert link.replies()[0]["reason"] == "InvalidPayload"
        assert daemon.store.get("tariff") is None
        assert daemon.pile.ctx.tariff.tariff_id != "T-X"
        daemon.store.close()

    asyncio.run(scenario())


class RealHardware:
    """Stands for a backend that is not the simulated pile (the rpi one, on a board)."""

    def __init__(self, sim: Any):
        self.connectors = sim.connectors

    def attach(self, sink: Any) -> None: ...

    def close(self) -> None: ...


def test_pilectl_sim_on_real_hardware_says_the_hardware_is_real(tmp_path: Path) -> None:
    async def scenario() -> None:
        daemon, _ = daemon_with(
            tmp_path,
            MemoryLink(),
            hardware=lambda opened: Interlock(RealHardware(opened.backend)),  # type: ignore[attr-defined]
        )
        with pytest.raises(
            RequestError, match='the hardware is real: pilectl sim drives only hal.driver = "sim"'
        ):
            daemon._technician().request({"cmd": "sim", "args": ["plug", "1"]})
        daemon.store.close()

    asyncio.run(scenario())


def test_a_journal_that_cannot_be_read_for_a_duplicate_fails_safe_and_answers(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        daemon, link = recording_daemon(tmp_path)

        def unreadable(_: str) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        daemon.store.reply_for = unreadable  # type: ignore[method-assign]
        reserve = {"reservation_id": "R1", "code": "1234", "id_token": "u"}
        send(daemon, "reserve", id="c-1", connector=1, expires_at=in_minutes(30), **reserve)
        assert daemon.failure == "journal: disk I/O error"  # power off, restart, rebuild
        assert link.replies() == [
            {"v": 1, "id": "c-1", "status": "Rejected", "reason": "InternalError"}
        ]
        assert [c.state for c in daemon.pile.connectors.values()] == ["idle", "idle"]
        daemon.store.abandon()

    asyncio.run(scenario())
