"""The MQTT link on the daemon's loop, against a real mosquitto."""

import asyncio
import logging
import signal
import time
from pathlib import Path

import pytest

from pile_controller.backend.mqtt.connection import Connection
from pile_controller.config import BackendSettings
from rig import virtual_time
from rig.backend import Backend
from rig.broker import Broker
from rig.proxy import HangingUp


def settings(port: int) -> BackendSettings:
    return BackendSettings(
        protocol="mqtt",
        host="127.0.0.1",
        port=port,
        topic_prefix="piles",
        username=None,
        password=None,
        tls=None,
        public_key=None,
        max_clock_skew_s=300,
        keepalive_s=30,
        mqtt_version="5",
        connect_timeout_s=10,
    )


def test_a_burst_larger_than_the_socket_buffer_is_all_delivered(tmp_path: Path) -> None:
    # Written at once until the kernel's buffer is full; the rest must follow as it drains,
    # with no later publish to push it out. The broker is paused meanwhile (SIGSTOP): else it
    # can read as fast as the link writes, the buffer never fills, and nothing is tested.
    burst, size = 60, 256 * 1024
    with Broker(tmp_path / "broker") as broker:
        watcher = Backend(broker.port, "LINK").connect()
        # Subscribed before the burst (paho subscribes on CONNACK, on its own thread): a probe
        # on its topics comes back. Else the burst's first message could precede it.
        deadline = time.monotonic() + 10
        while not any(m.topic == "piles/LINK/probe" for m in watcher.snapshot()):
            assert time.monotonic() < deadline, "the watcher never subscribed"
            watcher.client.publish("piles/LINK/probe", b"{}", qos=1)
            time.sleep(0.05)

        async def scenario() -> None:
            connected = asyncio.Event()
            link = Connection(settings(broker.port), "pile-LINK", ("piles/LINK/online", b"{}"))
            link.attach(
                on_connect=connected.set,
                on_message=lambda _m: None,
                on_ack=lambda _mid, _refusal: None,
                on_lost=lambda: None,
            )
            running = asyncio.create_task(link.run())
            await asyncio.wait_for(connected.wait(), 10)
            assert broker.process is not None
            broker.process.send_signal(signal.SIGSTOP)
            try:
                for i in range(burst):
                    link.publish(f"piles/LINK/bulk/{i}", bytes(size))
                await asyncio.sleep(0)  # the first write: as much as the kernel takes
                assert link.client.want_write()  # the rest waits for the socket to drain
            finally:
                broker.process.send_signal(signal.SIGCONT)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: watcher.wait(lambda m: m.topic == f"piles/LINK/bulk/{burst - 1}")
            )
            link.close()
            await running

        asyncio.run(scenario())
        arrived = [m.topic for m in watcher.messages if "/bulk/" in m.topic]
        assert arrived == [f"piles/LINK/bulk/{i}" for i in range(burst)]
        watcher.close()


def test_a_broker_that_drops_the_pile_right_after_accepting_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As RabbitMQ does to a client that breaks its ACL: CONNACK, then the connection closed.
    # A failing broker, on a growing backoff and said once; not a reconnect storm with two log
    # lines a time, which a backoff reset at every CONNACK made of it.
    server = HangingUp(answer=b"\x20\x03\x00\x00\x00")  # an MQTT 5 CONNACK: accepted

    async def scenario() -> int:
        link = Connection(settings(server.port), "pile-LINK", ("piles/LINK/online", b"{}"))
        running = asyncio.create_task(link.run())
        while len(server.accepted) < 4:
            await asyncio.sleep(0.02)
        attempt = link._backoff.attempt
        link.close()
        await running
        return attempt

    with caplog.at_level(logging.INFO, logger="pile_controller.backend.mqtt.connection"):
        attempt = virtual_time.run(scenario())  # the backoff's waits pass at once
    server.close()
    assert attempt >= 3  # each drop is one more failure in a row: the waits grow
    said = [r.getMessage() for r in caplog.records]
    dropped = [m for m in said if "dropped the connection" in m]
    assert len(dropped) == 1 and "s after accepting it, 2 times in a row" in dropped[0], said
    assert len([m for m in said if "link lost" in m]) == 1  # the first loss, as news
    assert len([m for m in said if m.startswith("backend link up")]) == 1  # the first only
    assert len(said) == 3, said  # then at most once a minute
