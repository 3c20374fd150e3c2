"""The journal is flushed off the event loop: what depends on a commit waits for the disk, keeps
its order, and commits made meanwhile share one flush. A gate on the flush stands in for a slow
disk, so nothing here depends on timing."""

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from pile_controller.core.published import FaultRaised
from pile_controller.journal.flusher import Flusher
from pile_controller.journal.store import Store

AT = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class SlowDisk(Store):
    """A journal whose flush waits for `gate` (open unless a test closes it)."""

    def __init__(self, path: Path):
        self.gate = threading.Event()
        self.gate.set()
        self.flushes = 0
        self.fail_next = False
        super().__init__(path)

    def sync(self) -> None:
        assert self.gate.wait(10), "the test never opened the gate"
        self.flushes += 1
        if self.fail_next:
            self.fail_next = False
            raise OSError(5, "Input/output error")
        super().sync()


def event(n: int = 0) -> list[FaultRaised]:
    return [FaultRaised(1, AT, "X", str(n))]


def run(scenario: object) -> None:
    asyncio.run(scenario)  # type: ignore[arg-type]


def test_what_waits_for_a_commit_runs_only_once_it_is_on_disk_and_in_order(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        store = SlowDisk(tmp_path / "j.sqlite")
        done: list[str] = []
        flusher = Flusher(store, on_failure=lambda e: done.append(f"failed {e}"))
        store.gate.clear()
        store.append_events(event())
        flusher.then(lambda: done.append("close relay"), dirty=True)
        flusher.then(lambda: done.append("show screen"), dirty=False)  # behind it, not before
        await asyncio.sleep(0)
        assert done == []
        store.gate.set()
        await flusher.drain()
        assert done == ["close relay", "show screen"]

    run(scenario())


def test_commits_made_during_a_flush_share_the_next_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SlowDisk(tmp_path / "j.sqlite")
        opened = store.flushes
        done: list[int] = []
        flusher = Flusher(store, on_failure=lambda e: None)
        store.gate.clear()
        for i in range(5):
            store.append_events(event(i))
            flusher.then(lambda i=i: done.append(i), dirty=True)
        store.gate.set()
        await flusher.drain()
        assert done == [0, 1, 2, 3, 4]
        assert store.flushes - opened == 2  # the first commit's, then one for the other four

    run(scenario())


def test_nothing_waits_when_nothing_was_committed(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SlowDisk(tmp_path / "j.sqlite")
        opened = store.flushes
        done: list[str] = []
        Flusher(store, on_failure=lambda e: None).then(lambda: done.append("tick"), dirty=False)
        assert done == ["tick"]
        assert store.flushes == opened

    run(scenario())


def test_events_are_handed_to_the_backend_only_from_disk(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SlowDisk(tmp_path / "j.sqlite")
        flusher = Flusher(store, on_failure=lambda e: None)
        store.gate.clear()
        store.append_events(event(1) + event(2))
        flusher.then(lambda: None, dirty=True)
        assert store.undelivered() == []  # a seq sent now could be reused after a power cut
        store.gate.set()
        await flusher.drain()
        assert [e.seq for e in store.undelivered()] == [1, 2]

    run(scenario())


def test_a_failed_flush_carries_out_nothing_that_waited_for_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SlowDisk(tmp_path / "j.sqlite")
        done: list[str] = []
        flusher = Flusher(store, on_failure=lambda e: done.append(f"failed: {e.strerror}"))
        store.fail_next = True
        store.append_events(event(1))
        flusher.then(lambda: done.append("close relay"), dirty=True)
        await flusher.drain()
        assert done == ["failed: Input/output error"]
        assert store.undelivered() == []
        store.append_events(event(2))
        flusher.then(lambda: done.append("open relay"), dirty=True)
        await flusher.drain()
        assert done[-1] == "open relay"
        assert [e.seq for e in store.undelivered()] == [1, 2]

    run(scenario())
