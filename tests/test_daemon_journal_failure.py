"""A journal that stops taking writes (a full or dying SD card) in the middle of a session: the
daemon turns the power off, carries out nothing more, and exits 1 for systemd to start it again.
What the journal holds still says the session is running, so the restarted daemon stops and bills
it (PowerLoss); nothing the core decided after the failure is acted on or lost silently."""

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pile_controller.core import commands as cmd
from pile_controller.journal.store import Store
from rig.broker import free_port
from tests.in_process import in_process_daemon


async def until(check: Any, what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.wall_clock("the real run loop: it waits for the daemon to act, for no timer")
def test_a_failed_journal_write_powers_off_and_stops_for_a_clean_restart(tmp_path: Path) -> None:
    daemon, sim = in_process_daemon(tmp_path, broker_port=free_port())
    settings = daemon.settings

    async def scenario() -> None:
        running = asyncio.create_task(daemon.run())
        await until(settings.control.socket.exists, "the daemon is up")
        sim.plug(1)
        await until(lambda: daemon.pile.connectors[1].plugged, "plugged")
        daemon.apply(daemon.pile.command(cmd.RemoteStart(1, "app"), daemon.now())[1])
        await until(lambda: sim.relays[1].closed, "charging")

        def full(*_: Any, **__: Any) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        daemon.store.append_events = full  # type: ignore[method-assign]
        sim.stop_button(1)  # the stop's events cannot be written
        await asyncio.wait_for(running, 10)
        assert daemon.failure == "journal: database or disk is full"
        assert not sim.relays[1].closed
        assert [r.what for r in sim.history.of("relay1")][-1] == "opened"

    asyncio.run(scenario())
    journal = Store(settings.pile.state_dir / "journal.sqlite")
    tx = journal.connector_snapshots()[1]["transaction"]
    assert tx is not None and tx["stopped_at"] is None  # the restart stops and bills it
    journal.close()
