"""Opening a relay waits for nothing: with the journal's flush held (an SD card can take hundreds
of milliseconds; IEC 61851-1 allows 100 ms to de-energise), every reason to stop charging opens
the relay in the very step that decides it, while the flush is still under way. Only what
depends on the journal waits for it."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hal.sim import SimPile
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.daemon import Daemon
from tests.test_daemon_write_ahead import disk, with_daemon

Action = Callable[[Daemon, SimPile], None]


def stop_command(daemon: Daemon, _: SimPile) -> None:
    tx = daemon.pile.connectors[1].transaction
    assert tx is not None
    reply, effects = daemon.pile.command(cmd.RemoteStop(tx.transaction_id), daemon.now())
    assert reply == cmd.ACCEPTED
    daemon.apply(effects)


def meter_failure(daemon: Daemon, sim: SimPile) -> None:
    sim.kill_meter(1, True)
    sim.skip(6)  # metering.stale_after_s = 5 without a valid reading
    daemon.feed(ev.Tick())


ACTIONS: dict[str, Action] = {
    "a lock that lets go": lambda _, sim: sim.jam_lock(1, True),
    "a stop command": stop_command,
    "the stop button": lambda _, sim: sim.stop_button(1),
    "an unplug": lambda _, sim: sim.unplug(1),
    "a dead meter": meter_failure,
    # The same, heard by the core alone (the interlock beneath did not see an edge): the
    # opening is the daemon's, not the interlock's.
    "the core hearing of an unplug": lambda daemon, _: daemon.feed(ev.Unplug(1)),
    "the core hearing the lock let go": lambda d, _: d.feed(ev.LockFeedback(1, False)),
}


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_the_relay_opens_in_the_same_step_while_the_flush_is_held(
    tmp_path: Path, action: Action
) -> None:
    async def scenario(daemon: Daemon, sim: SimPile, inbox: list[ev.Event], settle: Any) -> None:
        disk(daemon).gate.set()
        await settle()
        assert sim.relays[1].closed
        disk(daemon).gate.clear()
        daemon.flusher.then(lambda: None, dirty=True)  # a flush is under way, and held
        flushed = disk(daemon).flushes
        action(daemon, sim)
        while inbox:
            daemon.feed(inbox.pop(0))
        assert sim.history.of("relay1")[-1].what == "opened"
        assert not sim.relays[1].closed
        assert disk(daemon).flushes == flushed, "the opening waited for the disk"
        disk(daemon).gate.set()
        await settle()
        assert not sim.relays[1].closed and daemon.pile.connectors[1].state != "charging"

    with_daemon(tmp_path, scenario)


def test_a_close_still_waiting_for_the_disk_is_dropped_when_the_core_opens(
    tmp_path: Path,
) -> None:
    """The start's close waits for its commit; the driver presses stop before it is on disk.
    The daemon drops the close itself: the interlock is never asked for it."""

    async def scenario(daemon: Daemon, sim: SimPile, inbox: list[ev.Event], settle: Any) -> None:
        sim.stop_button(1)
        while inbox:
            daemon.feed(inbox.pop(0))
        disk(daemon).gate.set()
        await settle()
        assert "closed" not in [r.what for r in sim.history.of("relay1")]
        assert daemon.hardware.refused == []  # type: ignore[attr-defined]
        assert daemon.pile.connectors[1].state == "awaiting_payment" or (
            daemon.pile.connectors[1].state == "unlocked"  # a free session settles at once
        )

    with_daemon(tmp_path, scenario)
