"""The outbox after an outage, and a restart with a long journal: a journal of N events
(as a pile keeps while its backend is away), then the daemon started against a broker; how
fast the events reach a backend (all of them, in seq order), and how long the daemon takes from
its start to READY=1 with M events journaled.

Run with `python -m benchmarks.replay [--events 10000] [--journaled 100000]`
(part of `scripts/bench`).
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pile_controller.core.published import FaultRaised
from pile_controller.journal.store import Store
from rig.backend import Backend, Message
from rig.broker import Broker, free_port
from rig.pile import PileProcess

AT = datetime(2026, 12, 1, tzinfo=UTC)


def journal(pile: PileProcess, n: int) -> None:
    """`n` events in the daemon's journal, none delivered, as after a long outage."""
    store = Store(pile.state / "journal.sqlite")
    for start in range(0, n, 1000):
        store.append_events(
            FaultRaised(1, AT, "MeterFailure", f"event {i}")
            for i in range(start, min(n, start + 1000))
        )
    store.close()


def replay(workdir: Path, n: int) -> float:
    """Events a second, from the first event reaching the backend to the last (the daemon's
    boot before them is the other benchmark's)."""
    with Broker(workdir / "broker") as broker:
        pile = PileProcess(workdir / "replay", broker.port, connectors=1)
        journal(pile, n)
        backend = Backend(broker.port, pile.pile_id)
        done = threading.Event()
        arrived: list[float] = []

        def count(m: Message) -> None:  # not Backend.wait: it rescans every message each time
            if m.topic.endswith("/events") and m.payload["seq"] in (1, n):
                arrived.append(m.at)
                if m.payload["seq"] == n:
                    done.set()

        backend.listeners.append(count)
        backend.connect()
        time.sleep(0.3)  # subscribed before the daemon starts
        pile.start()
        assert done.wait(300), "not all events arrived"
        rate = (n - 1) / (arrived[-1] - arrived[0])  # from the first event to the last
        seqs = list(dict.fromkeys(e["seq"] for e in backend.events()))
        assert seqs == list(range(1, n + 1)), "lost or out of order"
        pile.stop()
        backend.close()
    return rate


def ready_after(workdir: Path, n: int) -> float:
    """Seconds from the daemon's start to READY=1, `n` events journaled, no broker."""
    pile = PileProcess(workdir / "ready", free_port(), connectors=2)
    journal(pile, n)
    address = str(workdir / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(60)
        started = time.monotonic()
        pile.start(env={"NOTIFY_SOCKET": address})
        while listener.recv(100) != b"READY=1":
            pass
        took = time.monotonic() - started
    pile.stop()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--journaled", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        rate = replay(Path(tmp), args.events)
        print(f"outbox replay: {args.events} events at {rate:.0f} events/s, in seq order")
        took = ready_after(Path(tmp), args.journaled)
        print(f"start to READY=1 with {args.journaled} events journaled: {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
