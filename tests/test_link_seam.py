"""The backend link is an interface: the daemon, passed a link held in memory instead of MQTT,
walks the seeds' whole cycle (reserve with a code, plug, type the code, charge, stop, pay,
unlock, unplug) with nothing of MQTT in sight. What the in-memory backend receives is what the
MQTT contract would have carried: the same events, in order, gapless."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pile_controller.core import commands as cmd
from rig.memory import MemoryLink
from tests.in_process import daemon_with


async def until(check: Callable[[], bool], what: str) -> None:
    """Waits for the daemon's loop to get to something (not for a timer: none is waited on)."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_the_seed_cycle_through_a_link_held_in_memory(tmp_path: Path) -> None:
    async def scenario() -> MemoryLink:
        link = MemoryLink()
        daemon, sim = daemon_with(tmp_path, link)
        running = asyncio.create_task(daemon.run())
        await until(lambda: link.connected and daemon.pile.offline_since is None, "the link is up")
        connector = daemon.pile.connectors[1]
        expires = daemon.now() + timedelta(minutes=30)
        reserve = cmd.Reserve(1, "R1", "246810", "driver-1", expires)
        assert link.command(reserve) == cmd.ACCEPTED

        sim.plug(1)
        sim.code(1, "246810")
        sim.ev_power(1, 7000)
        sim.jump(0)  # the meters are read now
        await until(lambda: connector.relay_feedback, "the relay closes")
        sim.jump(3600)  # an hour at 7 kW
        tx = connector.transaction
        assert tx is not None
        assert link.command(cmd.RemoteStop(tx.transaction_id)) == cmd.ACCEPTED
        await until(lambda: tx.amount is not None, "the bill")
        assert sim.locks[1].locked  # held until paid
        paid = cmd.Payment(tx.transaction_id, "paid", tx.amount or Decimal(0))
        assert link.command(paid) == cmd.ACCEPTED
        await until(lambda: not sim.locks[1].locked, "the cable is released")
        sim.unplug(1)
        await until(lambda: connector.state == "idle", "idle again")
        await until(lambda: "cable.unlocked" in link.types(), "every event delivered")
        daemon._stopping.set()
        await running
        return link

    link = asyncio.run(scenario())
    assert [e["seq"] for e in link.events] == list(range(1, len(link.events) + 1))
    lifecycle = [t for t in link.types() if t != "meter.values"]
    assert lifecycle == [
        "reservation.accepted",
        "transaction.started",
        "reservation.ended",
        "transaction.stopped",
        "payment.requested",
        "payment.settled",
        "cable.unlocked",
    ]
    stopped = next(e for e in link.events if e["type"] == "transaction.stopped")
    assert stopped["data"]["reason"] == "Remote"
    assert 6900 <= stopped["data"]["energy_wh"] <= 7100  # billed on the meter's registers
    assert link.announced >= 1 and link.statuses  # the pile said who it is and how it stands
    assert [r.reply for r in link.replies] == [cmd.ACCEPTED] * 3
