"""E-stop edge -> relay open, in the daemon on simulated hardware behind the interlock.

Each trial charges connector 1, then presses the e-stop from a thread of its own, as a GPIO
edge callback would, and times the edge to the relay's open write. The trials take turns at
three conditions:

- idle: the loop waits for the edge thread (nothing else wants the interpreter);
- flush stalled: as idle, with the journal's flush held (an SD card's worst flush is hundreds
  of ms): the opening must not wait for it;
- busy: the loop replays an outage's backlog (CPU-bound chunks, as the outbox's) and another
  Python thread computes meanwhile (boot, a Modbus decode): the edge's thread must first get
  the interpreter's lock, which is what the switch interval bounds.

The busy condition is run at the daemon's switch interval (`policy.SWITCH_INTERVAL_S`, which
the daemon sets at its start) and at Python's default of 5 ms. Prints p50 / p99 / max for each,
and how many openings waited for the stalled flush.

`python -m benchmarks.estop [--trials 10000]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
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
from pile_controller.core.power import MIN_OPEN
from pile_controller.daemon import Daemon
from pile_controller.journal.store import Store
from pile_controller.screen.display import NoDisplay
from pile_controller.service import policy
from pile_controller.signing import PileKey
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


IDLE, STALLED, BUSY, BUSY_DEFAULT = "idle", "flush stalled", "busy", "busy, 5 ms switch"
DEFAULT_SWITCH_S = 0.005  # Python's own
# At Python's default a busy trial takes seconds (the edge's thread loses the interpreter to
# the others again and again): a few show it.
DEFAULT_TRIALS = 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    trials = parser.parse_args().trials
    with tempfile.TemporaryDirectory() as tmp:
        results, waited = asyncio.run(run(Path(tmp), trials))
    report(results, waited)
    switch_cost()


async def run(workdir: Path, trials: int) -> tuple[dict[str, list[float]], int]:
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
    conditions = [(IDLE, STALLED, BUSY)[i % 3] for i in range(trials)]
    conditions += [BUSY_DEFAULT] * min(DEFAULT_TRIALS, trials)
    results: dict[str, list[float]] = {c: [] for c in dict.fromkeys(conditions)}
    waited = 0
    backlog = [json.dumps({"seq": n, "type": "meter.values", "data": {"n": n}}) for n in range(100)]
    for condition in conditions:
        await charge(daemon, sim)
        if condition == STALLED:
            store.in_flush.clear()
            store.release.clear()
            daemon.flusher.then(lambda: None, dirty=True)
            await until(store.in_flush.is_set, "the flush to start")
        seen = len(sim.history.records)
        # The callback's thread waits for the edge as RPi.GPIO's does (in C, off the
        # interpreter's lock); the edge is timed where it happens, so the time the thread
        # takes to get the interpreter counts.
        edge = Edge(sim)
        if condition in (IDLE, STALLED):
            edge.fire()
            edge.thread.join()
        else:
            switch = DEFAULT_SWITCH_S if condition == BUSY_DEFAULT else policy.SWITCH_INTERVAL_S
            await contended(edge, backlog, switch)
        opened = next(
            r.at for r in sim.history.records[seen:] if r.device == "relay1" and r.what == "opened"
        )
        if condition == STALLED and store.release.is_set():
            waited += 1
        results[condition].append((opened - edge.at) * 1e3)
        store.release.set()
        await settle(daemon, sim)
    meters.cancel()
    await daemon.flusher.drain()
    store.close()
    return results, waited


class Edge:
    """An e-stop edge and the input callback's thread, already waiting for it."""

    def __init__(self, sim: SimPile):
        self.sim, self.at = sim, 0.0
        # A bare lock, as the C library's wait for the edge: waking from it takes the
        # interpreter's lock once, as RPi.GPIO's thread does to call its Python callback.
        self._edge = threading.Lock()
        self._edge.acquire()
        self.thread = threading.Thread(target=self._callback)
        self.thread.start()

    def fire(self) -> None:
        self.at = time.perf_counter()
        self._edge.release()

    def _callback(self) -> None:
        self._edge.acquire()
        self.sim.set_estop(True)


async def contended(edge: Edge, backlog: list[str], switch_s: float) -> None:
    """Runs the edge's thread while the loop replays a backlog, a chunk a turn, and a second
    thread computes: three wanting the interpreter at once."""
    stop = threading.Event()

    def compute() -> None:
        while not stop.is_set():
            sum(i * i for i in range(200))

    busy = threading.Thread(target=compute)
    before = sys.getswitchinterval()
    sys.setswitchinterval(switch_s)
    busy.start()
    await asyncio.sleep(0.002)  # both running before the edge comes
    edge.fire()
    while edge.thread.is_alive():
        for text in backlog:  # one chunk of a replay: decode and encode a hundred events
            json.dumps(json.loads(text))
        await asyncio.sleep(0)
    stop.set()
    busy.join()
    sys.setswitchinterval(before)


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


def report(results: dict[str, list[float]], waited: int) -> None:
    total = sum(len(v) for v in results.values())
    switch_ms = policy.SWITCH_INTERVAL_S * 1e3
    print(f"e-stop edge -> relay open, over {total} trials (ms; switch interval {switch_ms:g} ms)")
    for name, values in results.items():
        over = sum(v > 1.0 for v in values) / len(values) * 100
        print(
            f"  {name:18} p50 {percentile(values, 50):.4f}  p99 {percentile(values, 99):.4f}"
            f"  max {max(values):.4f}  mean {statistics.mean(values):.4f}  over 1 ms {over:.1f} %"
        )
    print(f"  openings that waited for the stalled flush: {waited}")


def switch_cost(work: int = 10_000_000) -> None:
    """What a shorter switch interval costs: two threads computing side by side hand the
    interpreter over more often. Only then: a thread alone never hands it over."""
    spent: dict[float, float] = {}
    for switch in (DEFAULT_SWITCH_S, policy.SWITCH_INTERVAL_S):
        before = sys.getswitchinterval()
        sys.setswitchinterval(switch)
        threads = [threading.Thread(target=lambda: sum(i * i for i in range(work))) for _ in "ab"]
        started = time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        spent[switch] = time.process_time() - started
        sys.setswitchinterval(before)
    extra = spent[policy.SWITCH_INTERVAL_S] / spent[DEFAULT_SWITCH_S] - 1
    print(
        f"switch interval {policy.SWITCH_INTERVAL_S * 1e3:g} ms instead of 5 ms: two threads "
        f"computing at once spend {extra * 100:+.1f} % CPU ({spent[DEFAULT_SWITCH_S]:.2f} s -> "
        f"{spent[policy.SWITCH_INTERVAL_S]:.2f} s)"
    )


if __name__ == "__main__":
    main()
