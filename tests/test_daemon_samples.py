"""Periodic meter samples wait in memory for the next commit (at most policy.SAMPLES_HELD on
the pile's clock): not a commit and a flush each on an SD card. They keep their order with the
events around them, a crash loses no seq, and the bill never rests on one."""

import dataclasses
import json
from pathlib import Path
from typing import Any

from hal.sim import SimPile
from pile_controller.core import events as ev
from pile_controller.daemon import Daemon
from pile_controller.service import policy
from tests.test_daemon_write_ahead import disk, with_daemon


def journaled(daemon: Daemon) -> list[tuple[str, str | None]]:
    rows = daemon.store.db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
    return [(e["type"], e["data"].get("context")) for e in (json.loads(p) for (p,) in rows)]


async def sample(daemon: Daemon, sim: SimPile, settle: Any, seconds: float) -> None:
    """`seconds` pass on the pile's clock; the meter is read and the pile ticks."""
    sim.jump(seconds)
    reading = sim.meters[1].read()
    daemon.feed(ev.MeterReading(1, dataclasses.replace(reading, at=daemon.now())))
    daemon.feed(ev.Tick())
    await settle()


def test_samples_wait_for_the_next_commit_and_keep_their_order(tmp_path: Path) -> None:
    async def scenario(daemon: Daemon, sim: SimPile, _: Any, settle: Any) -> None:
        disk(daemon).gate.set()
        await settle()
        before, commits = journaled(daemon), daemon.store.commits
        await sample(daemon, sim, settle, 10)  # metering.interval_s of the rig
        await sample(daemon, sim, settle, 10)
        assert daemon.store.commits == commits, "a sample alone costs no commit"
        assert [e.context for e in daemon.held.events] == ["Sample.Periodic"] * 2
        sim.stop_button(1)
        await settle()
        after = journaled(daemon)[len(before) :]
        assert after[:3] == [
            ("meter.values", "Sample.Periodic"),
            ("meter.values", "Sample.Periodic"),
            ("meter.values", "Transaction.End"),
        ], "the held samples go first, numbered before the stop"
        seqs = [q for (q,) in daemon.store.db.execute("SELECT seq FROM outbox ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        daemon.store.close()

    with_daemon(tmp_path, scenario)


def test_held_samples_are_committed_once_they_are_old_enough(tmp_path: Path) -> None:
    async def scenario(daemon: Daemon, sim: SimPile, _: Any, settle: Any) -> None:
        disk(daemon).gate.set()
        await settle()
        await sample(daemon, sim, settle, 10)
        daemon._commit_held_when_due()  # the daemon's tick
        assert len(daemon.held.events) == 1
        sim.jump(policy.SAMPLES_HELD.total_seconds())
        daemon._commit_held_when_due()
        await settle()
        assert daemon.held.events == [] and journaled(daemon)[-1] == (
            "meter.values",
            "Sample.Periodic",
        )
        assert daemon.store.durable_seq == daemon.store.seq, "and flushed"
        daemon.store.close()

    with_daemon(tmp_path, scenario)
