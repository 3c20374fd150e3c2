"""The daemon in-process, on simulated hardware, with a journal whose flush the test holds:
the relay waits for the commit that starts a transaction to reach the disk, and an e-stop that
comes in meanwhile keeps the power off, though the close was already queued."""

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from hal.sim import SimPile
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.daemon import Daemon
from rig.memory import MemoryLink
from tests.in_process import daemon_with
from tests.test_flusher import SlowDisk


def slow_disk_daemon(tmp_path: Path) -> tuple[Daemon, SimPile, SlowDisk]:
    """The daemon in-process with a journal whose flush the test holds, and no broker."""
    daemon, sim = daemon_with(tmp_path, MemoryLink(reachable=False), store=SlowDisk)
    return daemon, sim, disk(daemon)


def disk(daemon: Daemon) -> SlowDisk:
    """The daemon's journal, whose flush waits for `disk(daemon).gate`."""
    assert isinstance(daemon.store, SlowDisk)
    return daemon.store


def with_daemon(tmp_path: Path, scenario: Callable[..., Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        daemon, sim, disk = slow_disk_daemon(tmp_path)
        inbox: list[ev.Event] = []  # what the devices report, fed by the test step by step
        daemon.hardware.attach(inbox.append)

        async def settle() -> None:
            """Feeds what the devices reported until the pile is quiet."""
            for _ in range(100):
                await daemon.flusher.drain()
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not others and not inbox:
                    return
                await asyncio.gather(*others)  # meter reads the core asked for
                while inbox:
                    daemon.feed(inbox.pop(0))
            raise AssertionError("the pile never settled")

        reading = sim.meters[1].read()
        daemon.feed(ev.MeterReading(1, dataclasses.replace(reading, at=daemon.now())))
        sim.plug(1)
        await settle()
        _, effects = daemon.pile.command(cmd.RemoteStart(1, "app-user"), daemon.now())
        daemon.apply(effects)
        # The lock reports locked; the core answers with the transaction and a CloseRelay.
        await daemon.flusher.drain()
        disk.gate.clear()
        while inbox:
            daemon.feed(inbox.pop(0))
        assert daemon.pile.connectors[1].state == "charging"
        assert not sim.relays[1].closed, "the relay closed before its commit was on disk"
        await scenario(daemon, sim, inbox, settle)

    asyncio.run(main())


def test_the_relay_closes_once_the_start_is_on_disk(tmp_path: Path) -> None:
    async def scenario(daemon: Daemon, sim: SimPile, _: Any, settle: Any) -> None:
        disk(daemon).gate.set()
        await settle()
        assert sim.relays[1].closed
        started = [e for e in daemon.store.undelivered() if '"transaction.started"' in e.payload]
        assert len(started) == 1

    with_daemon(tmp_path, scenario)


def test_an_estop_while_the_start_is_flushing_keeps_the_power_off(tmp_path: Path) -> None:
    async def scenario(daemon: Daemon, sim: SimPile, inbox: list[ev.Event], settle: Any) -> None:
        sim.set_estop(True)
        while inbox:
            daemon.feed(inbox.pop(0))
        disk(daemon).gate.set()
        await settle()
        assert "closed" not in [r.what for r in sim.history.records if r.device == "relay1"]
        stops = [
            e.payload for e in daemon.store.undelivered() if "transaction.stopped" in e.payload
        ]
        assert len(stops) == 1 and '"reason":"EmergencyStop"' in stops[0]

    with_daemon(tmp_path, scenario)


def test_a_slow_disk_is_not_taken_for_a_failed_relay(tmp_path: Path) -> None:
    """An SD card's flush can outlast the relay's feedback deadline (200 ms): the deadline
    counts from when the command reached the relay, not from when the core decided it."""

    async def scenario(daemon: Daemon, sim: SimPile, _: Any, settle: Any) -> None:
        sim.skip(1)  # the flush is still running a second later
        daemon.feed(ev.Tick())
        assert not daemon.pile.connectors[1].faults
        disk(daemon).gate.set()
        await settle()
        assert sim.relays[1].closed and daemon.pile.connectors[1].state == "charging"
        sim.skip(1)
        daemon.feed(ev.Tick())
        assert not daemon.pile.connectors[1].faults

    with_daemon(tmp_path, scenario)
