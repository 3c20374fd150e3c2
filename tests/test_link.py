"""The MQTT link on the daemon's loop, against a real mosquitto."""

import asyncio
from pathlib import Path

from pile_controller.backend.link import Link
from pile_controller.config import BackendSettings
from rig.backend import Backend
from rig.broker import Broker


def settings(port: int) -> BackendSettings:
    return BackendSettings("127.0.0.1", port, "piles", None, None, None, None, 300, 30, "5", 10)


def test_a_burst_larger_than_the_socket_buffer_is_all_delivered(tmp_path: Path) -> None:
    # Written at once until the kernel's buffer is full; the rest must follow as it drains,
    # with no later publish to push it out.
    burst, size = 60, 256 * 1024
    with Broker(tmp_path / "broker") as broker:
        watcher = Backend(broker.port, "LINK").connect()

        async def scenario() -> None:
            connected = asyncio.Event()
            link = Link(settings(broker.port), "pile-LINK", ("piles/LINK/online", b"{}"))
            link.attach(
                on_connect=connected.set,
                on_message=lambda _m: None,
                on_ack=lambda _mid, _refusal: None,
                on_lost=lambda: None,
            )
            running = asyncio.create_task(link.run())
            await asyncio.wait_for(connected.wait(), 10)
            for i in range(burst):
                link.publish(f"piles/LINK/bulk/{i}", bytes(size))
            await asyncio.sleep(0)  # the first write: as much as the kernel takes
            assert link.client.want_write()  # the rest waits for the socket to drain
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: watcher.wait(lambda m: m.topic == f"piles/LINK/bulk/{burst - 1}")
            )
            link.close()
            await running

        asyncio.run(scenario())
        arrived = [m.topic for m in watcher.messages if "/bulk/" in m.topic]
        assert arrived == [f"piles/LINK/bulk/{i}" for i in range(burst)]
        watcher.close()
