"""E-stop edge -> relay open, in the daemon on simulated hardware behind the interlock.

Each trial charges connector 1, then presses the e-stop from a thread of its own, as a GPIO
edge callback would, and times the edge to the relay's open write. In half of the trials the
journal's flush is stalled first (an SD card's worst flush is hundreds of ms): the opening must
not wait for it. Prints p50 / p99 / max for both halves, and how many openings waited.

`python -m benchmarks.estop [--trials 10000]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.run import percentile
from hal.interlock import Interlock
from hal.sim import SimPile
from pile_controller import config
from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core.connector import MIN_OPEN
from pile_controller.daemon import Daemon
from pile_controller.display import NoDisplay
from pile_controller.signing import PileKey
from pile_controller.store import Store
from rig.memory import MemoryLink
from rig.pile import PileProcess


class StallableStore(Store):
    """A journal whose flush waits while `stalled` is set."""

    def __init__(self, path: Path):
        self.release = threading.Event()
        self.release.set()
        self.in_flush = threading.Event()
        super().__init__(path)

    def sync(self) -> None:
        self.in_flush.set()
        self.release.wait()
        super().sync()


async def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never: {what}")
        await asyncio.sleep(0.0002)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    trials = parser.parse_args().trials
    with tempfile.TemporaryDirectory() as tmp:
        results, waited = asyncio.run(run(Path(tmp), trials))
    report(results, waited)


async def run(workdir: Path, trials: int) -> tuple[dict[bool, list[float]], int]:
    settings = config.load(PileProcess(workdir, 1, connectors=1).config)
    sim = SimPile([1], clock=time.perf_counter)
    store = StallableStore(settings.pile.state_dir / "journal.sqlite")
    key = PileKey.load_or_create(settings.pile.state_dir / "pile.key")
    link = MemoryLink(reachable=False)
    daemon = Daemon(settings, Interlock(sim), NoDisplay(), store, link, key, sim.wall_clock)
    loop = asyncio.get_running_loop()

    def hand_over(event: ev.Event) -> None:
        loop.call_soon_threadsafe(daemon.feed, event)

    daemon.hardware.attach(hand_over)
    meters = asyncio.create_task(daemon.meters.run())  # fresh readings, as when running
    results: dict[bool, list[float]] = {False: [], True: []}
    waited = 0
    for i in range(trials):
        stall = i % 2 == 1
        await charge(daemon, sim)
        if stall:
            store.in_flush.clear()
            store.release.clear()
            daemon.flusher.then(lambda: None, dirty=True)
            await until(store.in_flush.is_set, "the flush to start")
        seen = len(sim.history.records)
        fired: list[float] = []
        edge = threading.Thread(target=press, args=(sim, fired))  # as a GPIO edge callback
        edge.start()
        edge.join()
        opened = next(
            r.at for r in sim.history.records[seen:] if r.device == "relay1" and r.what == "opened"
        )
        if stall and store.release.is_set():
            waited += 1
        results[stall].append((opened - fired[0]) * 1e3)
        store.release.set()
        await settle(daemon, sim)
    meters.cancel()
    await daemon.flusher.drain()
    store.close()
    return results, waited


def press(sim: SimPile, fired: list[float]) -> None:
    fired.append(time.perf_counter())
    sim.set_estop(True)


async def charge(daemon: Daemon, sim: SimPile) -> None:
    c = daemon.pile.connectors[1]
    if sim.vehicles[1].plugged:
        sim.unplug(1)
    await until(lambda: c.state == "idle", "idle")
    sim.plug(1)
    await until(lambda: c.state == "authenticating", "authenticating")
    daemon.apply(daemon.pile.command(cmd.RemoteStart(1, "bench"), daemon.now())[1])
    # The contactor rests a second after each opening (no chatter): the pile's clock skips it.
    sim.skip(MIN_OPEN.total_seconds())
    daemon.feed(ev.Tick())
    await until(lambda: sim.relays[1].closed, "charging")


async def settle(daemon: Daemon, sim: SimPile) -> None:
    """Releases the e-stop once the core has heard it, and pays what the session cost."""
    c = daemon.pile.connectors[1]
    await until(lambda: c.state == "faulted", "the e-stop fault")
    sim.set_estop(False)
    await until(lambda: c.state in ("unlocked", "awaiting_payment"), "the session to end")
    tx = c.transaction
    if c.state == "awaiting_payment" and tx is not None and tx.amount is not None:
        paid = cmd.Payment(tx.transaction_id, "paid", tx.amount)
        daemon.apply(daemon.pile.command(paid, daemon.now())[1])
        await until(lambda: c.state == "unlocked", "unlocked")


def report(results: dict[bool, list[float]], waited: int) -> None:
    everything = results[False] + results[True]
    print(f"e-stop edge -> relay open, over {len(everything)} trials (ms)")
    for name, values in (
        ("flush idle", results[False]),
        ("flush stalled", results[True]),
        ("all", everything),
    ):
        print(
            f"  {name:14} p50 {percentile(values, 50):.4f}  p99 {percentile(values, 99):.4f}"
            f"  max {max(values):.4f}  mean {statistics.mean(values):.4f}"
        )
    print(f"  openings that waited for the stalled flush: {waited}")


if __name__ == "__main__":
    main()
